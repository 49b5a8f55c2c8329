"""Command line: ``cosim run``, ``validate``, ``sweep``, ``plot`` and ``serve``.

The only module that prints. Exit codes: 0 success, 2 invalid input (one line naming the
file, the key path and what was expected), 1 internal error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cosim import __version__
from cosim.errors import InputError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cosim",
        description="Co-simulation of local energy markets on LV networks.",
    )
    parser.add_argument("--version", action="version", version=f"cosim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_common(p: argparse.ArgumentParser, optional: bool = False) -> None:
        if optional:
            p.add_argument("scenario", nargs="?", default=None, help="scenario YAML file")
        else:
            p.add_argument("scenario", help="scenario YAML file")
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a scenario key by dotted path, value parsed as YAML (repeatable)",
        )

    run = sub.add_parser("run", help="run one simulation")
    add_common(run, optional=True)  # not given with --resume
    run.add_argument(
        "--out", type=str, default=None, help="run directory (default results/<name>/)"
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="replace cosim's own files in a non-empty --out (other files are kept)",
    )
    run.add_argument(
        "--resume",
        metavar="DIR",
        default=None,
        help="continue the interrupted or killed run in DIR from its last checkpoint",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary lines")
    run.add_argument(
        "--heartbeat",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="without a terminal, one progress line on stderr this often (default 30)",
    )
    val = sub.add_parser("validate", help="check a scenario without running it")
    add_common(val)
    disp = sub.add_parser(
        "dispatch",
        help="solve a scenario's decentralized dispatch (ADMM) on its own; writes dispatch.csv",
    )
    add_common(disp)
    disp.add_argument(
        "--out", type=str, default=None, help="output directory (default results/<name>/)"
    )
    disp.add_argument(
        "--force", action="store_true", help="replace cosim's own files in a non-empty --out"
    )
    disp.add_argument("--quiet", action="store_true", help="no summary line")
    sweep = sub.add_parser(
        "sweep",
        help="run the cartesian product of varied keys (local processes or a Dask cluster)",
    )
    add_common(sweep)
    sweep.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=V1,V2|KEY=START:STOP:STEP",
        help="values of a key (YAML scalars), or an inclusive range; adds to or replaces the "
        "file's sweep.vary (repeatable)",
    )
    sweep.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: cores)"
    )
    sweep.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask cluster of this scheduler, e.g. tcp://10.0.0.5:8786",
    )
    sweep.add_argument(
        "--out", type=Path, default=None, help="sweep directory (default results/<name>-sweep/)"
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress and no summary line")
    plot = sub.add_parser("plot", help="figures of a run or sweep directory into DIR/plots/")
    plot.add_argument("dir", type=Path, help="run directory or sweep directory (with sweep.csv)")
    plot.add_argument(
        "--format", dest="fmt", choices=("png", "pdf", "svg"), default="png", help="file format"
    )
    plot.add_argument(
        "--currency",
        default="currency",
        help="label of money amounts, e.g. EUR (default: currency)",
    )
    plot.add_argument(
        "--aggregate",
        choices=("auto", "slot", "day", "week"),
        default="auto",
        help="time step of the market figure (auto: day or week for long runs)",
    )
    _add_serve(sub)
    return parser


def _add_serve(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="web dashboard over a run, a sweep or a folder of runs (loopback only)"
    )
    serve.add_argument("dir", type=Path, help="run directory, sweep directory or folder of runs")
    serve.add_argument("--port", type=int, default=8050, help="TCP port (0: any free port)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="permit a non-loopback --host (anyone reaching the port with a token reads results)",
    )
    serve.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        help="file holding the token secret (else $COSIM_SERVE_SECRET, else random per start)",
    )
    serve.add_argument("--currency", default="currency", help="label of money amounts")


def _fail(message: str, code: int) -> int:
    print(f"cosim: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cosim`` command."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "dispatch":
            return _dispatch(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "plot":
            return _plot(args)
        if args.command == "serve":
            return _serve(args)
        return _run(args)
    except InputError as exc:
        return _fail(exc.one_line(), EXIT_INPUT)
    except KeyboardInterrupt:
        if args.command == "sweep":
            return _fail("interrupted; runs completed so far were written", 130)
        return _fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("COSIM_DEBUG"):
            traceback.print_exc()
        return _fail(
            f"internal error: {type(exc).__name__}: {exc} (set COSIM_DEBUG=1 for a traceback)",
            EXIT_INTERNAL,
        )


def _validate(args: argparse.Namespace) -> int:
    # the scenario first: a typo is reported before the grid libraries are imported
    from cosim.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    from cosim.engine.build import build_simulation
    from cosim.participants.population import describe_profile_use, load_profile_set

    sim = build_simulation(scenario)  # every check a run makes before its first slot
    print(
        f"{args.scenario}: valid ({scenario.time.slots} slots of {scenario.time.slot_minutes} min, "
        f"{sim.population.n} participants on {scenario.network.name})"
    )
    p = scenario.participants
    print(f"profiles: {describe_profile_use(p, load_profile_set(p, scenario.source_file))}")
    return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    from cosim.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    if not scenario.dispatch.enabled:
        raise InputError(
            args.scenario,
            "dispatch.enabled",
            "expected true: the scenario has no dispatch to solve",
        )
    if args.out == "":
        raise InputError(None, "--out", "expected a directory, got an empty string")
    import numpy as np

    from cosim.dispatch.run import solve_scenario_dispatch, write_dispatch_csv
    from cosim.results.writer import prepare_run_dir

    out = Path(args.out) if args.out is not None else Path("results") / scenario.name
    prepare_run_dir(out, args.force)
    rng = np.random.default_rng(np.random.SeedSequence(scenario.seed).spawn(1)[0])
    record = solve_scenario_dispatch(scenario, rng)
    written = write_dispatch_csv(out, [record])
    if not args.quiet:
        print(f"{scenario.name}: dispatch solved -> {', '.join(str(p) for p in written)}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from cosim.results.checkpoint import CHECKPOINT_FILE, read_checkpoint
    from cosim.results.writer import prepare_run_dir, resumable_run
    from cosim.scenario import load_scenario

    checkpoint = None
    if args.resume is not None:
        if args.scenario is not None or args.overrides or args.out is not None or args.force:
            raise InputError(
                None, "--resume", "takes only the run directory (its scenario.yaml is the scenario)"
            )
        out = Path(args.resume)
        scenario_file = resumable_run(out)
        try:
            checkpoint = read_checkpoint(out / CHECKPOINT_FILE)
        except ValueError as exc:
            raise InputError(out / CHECKPOINT_FILE, "(file)", str(exc)) from None
        scenario = load_scenario(scenario_file)
        # relative data paths resolve against the scenario file the run was started from
        scenario = scenario.model_copy(update={"source_file": checkpoint.source_file})
    else:
        if args.scenario is None:
            raise InputError(None, "run", "expected a scenario file, or --resume DIR")
        scenario = load_scenario(args.scenario, args.overrides)
        if args.out == "":
            raise InputError(None, "--out", "expected a directory, got an empty string")
        if scenario.dispatch.enabled and scenario.participants.battery_strategy != "admm":
            raise InputError(
                args.scenario,
                "dispatch.enabled",
                "in a market run the dispatch is participants.battery_strategy: admm; solve "
                f"the dispatch case on its own with: cosim dispatch {args.scenario}",
            )
        out = Path(args.out) if args.out is not None else Path("results") / scenario.name
    if args.heartbeat <= 0:
        raise InputError(None, "--heartbeat", f"expected seconds > 0, got {args.heartbeat}")
    # the engine (pandapower, lightsim2grid, SimPy) only once the scenario is known to be valid
    from cosim.engine.build import build_simulation, open_writer
    from cosim.engine.run import run_simulation
    from cosim.settlement.schemes import SCHEMES

    scheme = SCHEMES.get(scenario.settlement.encryption)
    if scheme is not None and scheme.pooled_randomizers and scenario.settlement.workers > 1:
        # the background processes take the other cores: pypaillier runs one thread here
        os.environ.setdefault("RAYON_NUM_THREADS", "1")
    sim = build_simulation(scenario)  # every input check before the folder is touched
    if checkpoint is None:
        prepare_run_dir(out, args.force)
        writer = open_writer(sim, out)
    else:
        writer = open_writer(sim, out, resume_marks=checkpoint.table_bytes)
    first = checkpoint.slot if checkpoint is not None else 0
    stop = _StopOnSignal()
    t0 = time.perf_counter()
    with stop.installed(), _progress(args, scenario.name, scenario.time.slots, first) as progress:
        try:
            summary = run_simulation(sim, writer, progress, resume=checkpoint, stop=stop)
        except KeyboardInterrupt:  # a second Ctrl-C: files cut back to the last checkpoint
            return _fail(
                f"interrupted at once; {out}: every table ends at the last checkpoint; "
                f"continue with: cosim run --resume {out}",
                128 + signal.SIGINT,
            )
    wall = time.perf_counter() - t0
    for warning in summary["warnings"]:
        print(f"cosim: warning: {warning}", file=sys.stderr)
    done = summary["slots_completed"]
    if summary["status"] == "interrupted":
        return _fail(
            f"interrupted after {done} of {scenario.time.slots} slots; {out}: every table and "
            f"the bills cover exactly those slots; continue with: cosim run --resume {out}",
            128 + (stop.signal or signal.SIGINT),
        )
    if not args.quiet:
        failed = summary["grid"]["failed_power_flows"]
        print(
            f"{scenario.name}: {done - first} slots, {sim.population.n} participants, "
            f"{wall:.1f} s ({_rate(done - first, wall)}), "
            f"{failed} failed power flows -> {out}"
        )
    return EXIT_OK


class _StopOnSignal:
    """The run's stop request: the first SIGINT/SIGTERM finishes the slots under way and stops;
    a second SIGINT stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        print(
            "\ncosim: stopping after the slots under way (Ctrl-C again to stop at once)",
            file=sys.stderr,
        )

    @contextmanager
    def installed(self) -> Iterator[None]:
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


@contextmanager
def _progress(
    args: argparse.Namespace, name: str, total: int, first: int
) -> Iterator[Callable[[int], None] | None]:
    """Progress of a run: a bar on a terminal, else a heartbeat line every few seconds."""
    if args.quiet:
        yield None
        return
    if sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=total, initial=first, unit="slot", desc=name, file=sys.stderr) as bar:
            yield lambda done: bar.update(done - bar.n)
        return
    t0 = time.perf_counter()
    last = [t0]

    def heartbeat(done: int) -> None:
        now = time.perf_counter()
        if now - last[0] < args.heartbeat:
            return
        last[0] = now
        elapsed = now - t0
        rate = (done - first) / elapsed if elapsed > 0 else 0.0
        eta = f", ETA {_duration((total - done) / rate)}" if rate > 0 and done < total else ""
        print(
            f"{name}: slot {done}/{total}, {_rate(done - first, elapsed)}{eta}",
            file=sys.stderr,
            flush=True,
        )

    yield heartbeat


def _rate(slots: int, seconds: float) -> str:
    """Slots per second, readable for fast and slow runs alike."""
    if seconds <= 0 or slots <= 0:
        return "no slots run"
    rate = slots / seconds
    if rate >= 10:
        return f"{rate:.0f} slots/s"
    if rate >= 1:
        return f"{rate:.1f} slots/s"
    return f"{seconds / slots:.1f} s/slot"


def _sweep(args: argparse.Namespace) -> int:
    from cosim.sweep import SweepProgress, plan_sweep, run_sweep

    if args.workers is not None and args.workers < 1:
        raise InputError(None, "--workers", f"expected at least 1, got {args.workers}")
    plan = plan_sweep(args.scenario, args.vary, args.overrides)
    out = args.out if args.out is not None else Path("results") / f"{plan.base.name}-sweep"
    total = len(plan.runs)
    bar: Any = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="run", desc=plan.base.name, file=sys.stderr)

    def progress(p: SweepProgress) -> None:
        if bar is not None:
            bar.update(p.done - bar.n)
            if p.failed:
                bar.set_postfix_str(f"{p.failed} failed")
        elif not args.quiet and p.last is not None:
            eta = f", ETA {_duration(p.eta_s)}" if p.eta_s is not None else ""
            print(f"[{p.done}/{p.total}] {p.last}: {p.last_status}{eta}", file=sys.stderr)

    try:
        outcome = run_sweep(
            plan, out, workers=args.workers, scheduler=args.scheduler, progress=progress
        )
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(
            f"{plan.base.name}: {total} runs ({outcome.reused} reused, {outcome.failed} failed) "
            f"in {outcome.wall_s:.1f} s -> {outcome.path}"
        )
    if outcome.failed:
        first = next(iter(outcome.errors.items()))
        return _fail(
            f"{outcome.failed} of {total} runs failed (errors in {outcome.path}); "
            f"first: {first[0]}: {first[1]}",
            EXIT_INTERNAL,
        )
    return EXIT_OK


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _plot(args: argparse.Namespace) -> int:
    import pandas as pd

    from cosim.plots import plot_dir
    from cosim.results.writer import run_status

    d = Path(args.dir)
    if not (d / "sweep.csv").is_file():
        status = run_status(d)["status"]
        if status not in ("completed", "interrupted"):
            raise InputError(
                d / "summary.json",
                "status",
                f"the run is {status}: plot a completed or interrupted run "
                f"(continue it with: cosim run --resume {d})",
            )
    try:
        written = plot_dir(d, fmt=args.fmt, currency=args.currency, aggregate=args.aggregate)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, KeyError) as exc:
        what = f"missing column {exc}" if isinstance(exc, KeyError) else type(exc).__name__
        raise InputError(d, "(files)", f"a result file is damaged ({what})") from None
    print(f"{len(written)} figures -> {Path(args.dir) / 'plots'}")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from cosim.dashboard import Access, Dashboard, bind, create_app, serve
    from cosim.dashboard.access import RESEARCHER

    secret: bytes | None = None
    if args.secret_file is not None:
        try:
            secret = args.secret_file.read_bytes().strip()
        except OSError as exc:
            raise InputError(
                args.secret_file, "--secret-file", f"a readable file ({exc})"
            ) from None
    elif os.environ.get("COSIM_SERVE_SECRET"):
        secret = os.environ["COSIM_SERVE_SECRET"].encode()
    if secret is not None and len(secret) < 16:
        raise InputError(args.secret_file, "--secret-file", "a secret of at least 16 bytes")
    access = Access(secret)
    dash = Dashboard(args.dir, access, currency=args.currency)
    sock = bind(args.host, args.port, args.allow_remote)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    roles = dash.roles()
    print(
        f"cosim serve: {dash.root.name} ({dash.root.kind}, {len(dash.runs)} "
        f"run{'s' if len(dash.runs) != 1 else ''}); "
        f"preparing the pages of {dash.default_run}...",
        flush=True,
    )
    t0 = time.perf_counter()
    dash.warm()  # a year of bus and line results takes seconds to read: before the URL
    print(f"ready in {time.perf_counter() - t0:.1f} s")
    print(f"open http://{shown}:{port}/#token={access.token(RESEARCHER)}")
    if len(roles) > 1:
        print(f"{len(roles) - 1} role views; their links are on the researcher's Roles page")
    print("Ctrl+C stops the server", flush=True)
    try:
        serve(create_app(dash), sock).run(sockets=[sock])
    finally:
        sock.close()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
