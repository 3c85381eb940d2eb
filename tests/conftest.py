import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_cli():
    """Run `robolearn ARGS...` in a subprocess; returns the CompletedProcess."""

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "robolearn.cli", *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=timeout)  # fmt: skip

    return run
