"""Command line: ``cosim run``, ``cosim validate``.

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
    return parser


def _fail(message: str, code: int) -> int:
    print(f"cosim: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cosim`` command."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        return _run(args)
    except InputError as exc:
        return _fail(exc.one_line(), EXIT_INPUT)
    except KeyboardInterrupt:
        return _fail("interrupted; slots completed so far were written", 130)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
