"""Training loops (one readable loop per model) on the shared skeleton of robolearn.train.run."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from robolearn.config import ConfigError

# The loops by the `kind` a training TOML names (none: grasp_cnn): module, config class.
LOOPS = {"grasp_cnn": ("robolearn.train.grasp", "TrainConfig"), "tcn": ("robolearn.train.tcn", "TCNTrainConfig")}


def training_loop(path: str | Path):
    """(kind, config class, train function) of the training TOML at `path`, by its `kind` key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        kind = tomllib.loads(path.read_text()).get("kind", "grasp_cnn")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if kind not in LOOPS:
        raise ConfigError(f"{path}: key 'kind': got {kind!r}, allowed: {', '.join(LOOPS)}")
    module, name = LOOPS[kind]
    loaded = importlib.import_module(module)
    return kind, getattr(loaded, name), loaded.train
