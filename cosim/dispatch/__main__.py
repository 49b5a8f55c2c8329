"""``python -m cosim.dispatch SCENARIO.yaml [--out DIR] [--set KEY=VALUE ...]``.

The same as ``cosim dispatch``: solves the scenario's ``dispatch`` section once and writes
``DIR/dispatch.csv`` and ``DIR/dispatch_iterations.csv`` (default ``results/<name>/``).
"""

from __future__ import annotations

import sys

from cosim.cli import main

if __name__ == "__main__":
    sys.exit(main(["dispatch", *sys.argv[1:]]))
