"""The import-linter contract in pyproject.toml: the layers import one way. It passes on the package, and it fails
on each back-edge it exists to stop, planted in a copy of the package."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
]


def lint(where: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run([*LINT, "--no-cache", str(where / "pyproject.toml")], cwd=where, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_package_keeps_its_layers():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 kept, 0 broken" in result.stdout


# The back-edges of the grasp half before the layers existed (each once ran this way round).
BACK_EDGES = [
    ("train/grasp.py", "from robolearn.policies.cem import CEMServo", "robolearn.train is not allowed to import robolearn.policies"),
    ("train/grasp.py", "from robolearn.collection.record import record_episode", "robolearn.train is not allowed to import robolearn.collection"),
    ("policies/cem.py", "from robolearn.train.run import learning_rate", "robolearn.policies is not allowed to import robolearn.train"),
    ("policies/cem.py", "from robolearn.data.stream import StreamingLoader", "robolearn.policies is not allowed to import robolearn.data"),
    ("data/grasp.py", "from robolearn.sim.objects import TEST_IDS", "robolearn.data is not allowed to import robolearn.sim"),
]  # fmt: skip


@pytest.mark.parametrize("module, line, message", BACK_EDGES)
def test_a_planted_back_edge_breaks_the_contract(tmp_path, module, line, message):
    shutil.copytree(ROOT / "robolearn", tmp_path / "robolearn", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "robolearn" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    assert message in " ".join(result.stdout.split()), result.stdout[-3000:]
