"""Quiet imports of third-party packages that print on import."""

from __future__ import annotations

import contextlib
import io
import sys
import warnings


@contextlib.contextmanager
def silenced():
    """Nothing printed to stdout or stderr, no warnings shown, inside the block."""
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        yield


def quiet_gym() -> bool:
    """Import the old `gym` package where it is installed (robolearn's `original` extra installs it), without the
    notice it prints to stderr on import; whether it is installed. stable-baselines3 imports gym when present, so
    without this every SB3 command printed that notice before its own one-line errors."""
    if sys.modules.get("gym") is not None:  # None: marked as not importable
        return True
    with silenced():
        try:
            import gym  # noqa: F401
        except ImportError:
            return False
    return True
