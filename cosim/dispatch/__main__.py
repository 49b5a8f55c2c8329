"""``python -m cosim.dispatch SCENARIO.yaml [--out DIR] [--set KEY=VALUE ...]``.

Solves the scenario's ``dispatch`` section once and writes ``DIR/dispatch.csv`` and
``DIR/dispatch_iterations.csv`` (default ``results/<name>/``). Exit 2 on invalid input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cosim.dispatch.run import solve_scenario_dispatch, write_dispatch_csv
from cosim.errors import InputError
from cosim.scenario import load_scenario


def main(argv: list[str] | None = None) -> int:
    """Entry point (prints one line per file written)."""
    parser = argparse.ArgumentParser(prog="python -m cosim.dispatch", description=__doc__)
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        scenario = load_scenario(args.scenario, args.overrides)
    except InputError as exc:
        print(f"cosim: {exc.one_line()}", file=sys.stderr)
        return 2
    out = args.out or Path("results") / scenario.name
    rng = np.random.default_rng(np.random.SeedSequence(scenario.seed).spawn(1)[0])
    record = solve_scenario_dispatch(scenario, rng)
    for path in write_dispatch_csv(out, [record]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
