"""Command line: ``cosim run``, ``validate``, ``sweep``, ``plot`` and ``serve``.

The only module that prints. Exit codes: 0 success, 2 invalid input (one line naming the
file, the key path and what was expected), 1 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Sequence
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

    def add_common(p: argparse.ArgumentParser) -> None:
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
    add_common(run)
    run.add_argument(
        "--out", type=Path, default=None, help="run directory (default results/<name>/)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary lines")
    val = sub.add_parser("validate", help="check a scenario without running it")
    add_common(val)
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
        what = "runs" if args.command == "sweep" else "slots"
        return _fail(f"interrupted; {what} completed so far were written", 130)
    except Exception as exc:
        if os.environ.get("COSIM_DEBUG"):
            traceback.print_exc()
        return _fail(
            f"internal error: {type(exc).__name__}: {exc} (set COSIM_DEBUG=1 for a traceback)",
            EXIT_INTERNAL,
        )


def _validate(args: argparse.Namespace) -> int:
    from cosim.engine import build_simulation
    from cosim.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    sim = build_simulation(scenario)  # checks network and profile files too
    print(
        f"{args.scenario}: valid ({scenario.time.slots} slots of {scenario.time.slot_minutes} min, "
        f"{sim.population.n} participants on {scenario.network.name})"
    )
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from cosim.engine import build_simulation, open_writer, run_simulation
    from cosim.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    if scenario.settlement.encryption == "paillier_djn" and scenario.settlement.workers > 1:
        # the background processes take the other cores: pypaillier runs one thread here
        os.environ.setdefault("RAYON_NUM_THREADS", "1")
    out = args.out if args.out is not None else Path("results") / scenario.name
    sim = build_simulation(scenario)
    writer = open_writer(scenario, out)
    show_bar = not args.quiet and sys.stderr.isatty()
    t0 = time.perf_counter()
    if show_bar:
        from tqdm import tqdm

        with tqdm(
            total=scenario.time.slots, unit="slot", desc=scenario.name, file=sys.stderr
        ) as bar:
            summary = run_simulation(sim, writer, progress=lambda done: bar.update(done - bar.n))
    else:
        summary = run_simulation(sim, writer)
    wall = time.perf_counter() - t0
    if not args.quiet:
        failed = summary["grid"]["failed_power_flows"]
        print(
            f"{scenario.name}: {scenario.time.slots} slots, {sim.population.n} participants, "
            f"{wall:.1f} s ({scenario.time.slots / wall:.0f} slots/s), "
            f"{failed} failed power flows -> {out}"
        )
    return EXIT_OK


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
    from cosim.plots import plot_dir

    written = plot_dir(args.dir, fmt=args.fmt, currency=args.currency, aggregate=args.aggregate)
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
