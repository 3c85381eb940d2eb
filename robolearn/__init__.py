"""robolearn: simulated grasp data at scale, grasp CNNs and TCNs in torch, evaluation in headless pybullet."""

import os as _os
import sys as _sys


def _import_pybullet_quietly() -> None:
    """pybullet's C module prints its build time to stderr on import; keep it out of every command's output."""
    if "pybullet" in _sys.modules:
        return
    try:
        _sys.stderr.flush()
        saved = _os.dup(2)
    except (OSError, ValueError, AttributeError):
        import pybullet  # noqa: F401

        return
    devnull = _os.open(_os.devnull, _os.O_WRONLY)
    try:
        _os.dup2(devnull, 2)
        import pybullet  # noqa: F401
    finally:
        _os.dup2(saved, 2)
        _os.close(saved)
        _os.close(devnull)


_import_pybullet_quietly()

import robolearn.envs  # noqa: E402,F401  (registers the gymnasium env ids)

__version__ = "0.1.0"
