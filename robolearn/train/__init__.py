"""Training loops (one readable loop per model) on the shared skeleton of robolearn.train.run."""

from __future__ import annotations

import importlib
from pathlib import Path

from robolearn.config import ConfigError, read_toml

# The loops by the `kind` a training TOML names (none: grasp_cnn): module, config class.
LOOPS = {"grasp_cnn": ("robolearn.train.grasp", "TrainConfig"), "tcn": ("robolearn.train.tcn", "TCNTrainConfig"),
         "rl": ("robolearn.train.rl", "RLTrainConfig"), "sequence": ("robolearn.train.sequence", "SequenceTrainConfig")}


def training_loop(path: str | Path):
    """(kind, config class, train function) of the training TOML at `path`, by its `kind` key."""
    kind = read_toml(path).get("kind", "grasp_cnn")
    if kind not in LOOPS:
        raise ConfigError(f"{path}: key 'kind': got {kind!r}, allowed: {', '.join(LOOPS)}")
    module, name = LOOPS[kind]
    loaded = importlib.import_module(module)
    return kind, getattr(loaded, name), loaded.train
