"""A wheel installed outside the repository runs the quickstart (the package ships its data).

Builds a wheel of this source tree (a copy, so the repository gets no build folders), installs
it without dependencies into a fresh virtual environment that sees the system site-packages
(numpy, pandapower, ... are not reinstalled), and runs the quickstart from a folder outside
the repository with no ``PYTHONPATH``. The test asserts that ``cosim`` is imported from the
venv, so the repository's (or an editable install's) copy cannot make it pass. Takes 20-40 s.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _can_build_offline() -> bool:
    """setuptools can make wheels in this environment without downloading build tools."""
    major = int(setuptools.__version__.split(".")[0])
    return importlib.util.find_spec("wheel") is not None or major >= 71


_IGNORED = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


def _ignore_outputs(directory: str, names: list[str]) -> set[str]:
    """Build outputs anywhere, and the run folder ``results/`` of the checkout's root only
    (``cosim/results/`` is a package)."""
    ignored = set(_IGNORED(directory, names))
    if Path(directory).resolve() == ROOT.resolve() and "results" in names:
        ignored.add("results")
    return ignored


def test_wheel_outside_the_repository_runs_the_quickstart(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=_ignore_outputs,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COSIM_DEBUG")}
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "."]
    if _can_build_offline():
        build.insert(4, "--no-build-isolation")
    built = _run(build, src, env)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("cosim-*.whl")

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp_path, env)
    assert made.returncode == 0, made.stderr
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    installed = _run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        tmp_path,
        env,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]

    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "scenarios" / "quickstart.yaml", work / "quickstart.yaml")
    where = _run([str(python), "-c", "import cosim; print(cosim.__file__)"], work, env)
    assert where.returncode == 0, where.stderr
    cosim_file = Path(where.stdout.strip()).resolve()
    assert cosim_file.is_relative_to(venv.resolve()), cosim_file
    assert not cosim_file.is_relative_to(ROOT)

    ran = _run(
        [str(python), "-m", "cosim.cli", "run", "quickstart.yaml", "--out", "out", "--quiet"],
        work,
        env,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    slots = pd.read_csv(work / "out" / "slots.csv")
    assert len(slots) == 48
    participants = pd.read_csv(work / "out" / "participants.csv")
    assert participants["load_kwh"].sum() > 0
    # a shipped scenario runs by name, from any folder
    named = _run([str(python), "-m", "cosim.cli", "validate", "quickstart"], work, env)
    assert named.returncode == 0, named.stderr
    assert named.stdout.startswith("quickstart: valid (48 slots")
    # the built-in tables were read from the installed package
    shipped = _run(
        [
            str(python),
            "-c",
            "from cosim.participants.profiles import PROFILE_DIR; print(PROFILE_DIR)",
        ],
        work,
        env,
    )
    assert Path(shipped.stdout.strip()).resolve().is_relative_to(venv.resolve())


@pytest.mark.parametrize(
    "name", ["household_load.csv", "commercial_load.csv", "pv.csv", "heat.csv", "wind.csv"]
)
def test_builtin_profiles_are_package_data(name: str) -> None:
    """pyproject's package-data names every file the code reads from cosim/data/."""
    from cosim.participants.profiles import PROFILE_DIR

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    assert (PROFILE_DIR / name).is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["cosim"]
    relative = (PROFILE_DIR / name).relative_to(ROOT / "cosim")
    assert any(relative.match(p) for p in patterns)


def test_shipped_scenarios_equal_the_repository_ones() -> None:
    """cosim/data/scenarios/ holds copies of scenarios/ files, kept identical."""
    from cosim.scenario import SCENARIO_DIR

    shipped = sorted(SCENARIO_DIR.glob("*.yaml"))
    assert [p.name for p in shipped] == ["quickstart.yaml"]
    for path in shipped:
        assert path.read_bytes() == (ROOT / "scenarios" / path.name).read_bytes()
    patterns = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"data/scenarios/*.yaml"' in patterns


def test_a_shipped_scenario_runs_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cosim.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["validate", "quickstart"]) == 0
    assert "quickstart: valid (48 slots of 30 min, 105 participants" in capsys.readouterr().out
    (tmp_path / "quickstart").mkdir()  # a folder of that name is not a scenario file: still found
    assert main(["validate", "quickstart", "--set", "time.slots=2"]) == 0
    assert main(["validate", "quickstart.yml"]) == 2  # only bare names
    assert "scenario file not found" in capsys.readouterr().err
