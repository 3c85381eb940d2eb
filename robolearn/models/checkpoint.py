"""Checkpoints of every model kind: a directory that describes itself, with no pickle anywhere.

    step-000500/
      config.json            {"model": "GraspCNN", "config": {...}, "step": 500, "train": {...}, ...}
      model.safetensors      the model's state_dict
      optimizer.safetensors  the optimizer's per-parameter tensors (resume only)
      optimizer.json         the optimizer's param_groups (hyper-parameters; the schedule is a function of step)

A checkpoint is written to `<name>.tmp` and renamed into place, so a run killed while saving
leaves the previous checkpoint as the latest complete one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

import robolearn
from robolearn.config import CheckpointError

__all__ = ["CheckpointError", "latest", "load_model", "load_optimizer", "load_weights", "read_config", "save",
           "step_dir"]  # fmt: skip


def step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:07d}"


def latest(root: str | Path) -> Path | None:
    """The newest complete checkpoint under `root` (a run's checkpoints/ folder), or None."""
    root = Path(root)
    done = sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp")) if root.is_dir() else []
    return done[-1] if done else None


def save(path: Path, *, model: nn.Module, model_name: str, model_config: dict, step: int,
         optimizer: torch.optim.Optimizer | None = None, extra: dict[str, Any] | None = None,
         optimizers: dict[str, torch.optim.Optimizer] | None = None) -> Path:  # fmt: skip
    """Write a checkpoint directory at `path` atomically; returns `path`. `optimizers`: several, by name (an RL agent's
    actor and critic), each in optimizer-<name>.safetensors / .json."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    meta = {"model": model_name, "config": model_config, "step": step, "robolearn_version": robolearn.__version__,
            **(extra or {})}  # fmt: skip
    (tmp / "config.json").write_text(json.dumps(meta, indent=2))
    save_weights(model, tmp / "model.safetensors")
    for stem, opt in [("optimizer", optimizer), *((f"optimizer-{k}", o) for k, o in (optimizers or {}).items())]:
        if opt is None:
            continue
        state = opt.state_dict()
        tensors = {f"{pid}.{name}": torch.as_tensor(v).contiguous().cpu()
                   for pid, entry in state["state"].items() for name, v in entry.items()}  # fmt: skip
        save_file(tensors, tmp / f"{stem}.safetensors")
        (tmp / f"{stem}.json").write_text(json.dumps({"param_groups": state["param_groups"]}))
    for f in tmp.iterdir():  # on disk before the rename makes the checkpoint count
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    """config.json of the checkpoint at `path`, checked to be one."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: not a checkpoint directory (no config.json)")
    try:
        meta = json.loads((path / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{path}/config.json: not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
        ) from None
    if not isinstance(meta, dict) or "model" not in meta or "config" not in meta:
        raise CheckpointError(f"{path}/config.json: has no 'model' and 'config' entries")
    return meta


def load_model(path: str | Path, *, expect: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved at `path` from its config and weights (the MODELS registry names its class); (model
    in eval mode, config.json)."""
    from robolearn.models import MODELS

    meta = read_config(path)
    if expect is not None and meta["model"] != expect:
        raise CheckpointError(f"{path}: holds a {meta['model']} model, expected {expect}")
    if meta["model"] not in MODELS:
        raise CheckpointError(f"{path}: unknown model '{meta['model']}'; known: {', '.join(MODELS)}")
    cls, config_cls = MODELS[meta["model"]]
    model = cls(config_cls.model_validate(meta["config"]))
    load_weights(model, Path(path))
    return model.eval(), meta


def save_weights(model: nn.Module, file: Path) -> None:
    """`model`'s state_dict as safetensors; a tensor that several names share (an RL policy's shared feature
    extractor) is stored once, the other names kept as aliases in the file's metadata."""
    tensors, aliases, seen = {}, {}, {}
    for k, v in model.state_dict().items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape), tuple(v.stride()), v.dtype)
        if v.numel() and key in seen:
            aliases[k] = seen[key]
            continue
        seen[key] = k
        tensors[k] = v.detach().contiguous().cpu()
    save_file(tensors, file, metadata={"aliases": json.dumps(aliases)} if aliases else None)


def load_weights(model: nn.Module, path: Path) -> None:
    """model.safetensors at `path` into `model`, refusing missing, extra or reshaped tensors."""
    try:
        with safe_open(path / "model.safetensors", "pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is no dict)
            aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}/model.safetensors: cannot be read ({str(exc).splitlines()[0][:120]})") from None
    state.update({name: state[kept] for name, kept in aliases.items() if kept in state})
    own = model.state_dict()
    if set(state) != set(own):
        raise CheckpointError(f"{path}: weights do not fit this model (missing {sorted(set(own) - set(state))[:3]}, "
                              f"unexpected {sorted(set(state) - set(own))[:3]})")  # fmt: skip
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise CheckpointError(
                f"{path}: weight {k} has shape {tuple(v.shape)}, this model's is {tuple(own[k].shape)}"
            )
    model.load_state_dict(state)


def load_optimizer(optimizer: torch.optim.Optimizer, path: Path, name: str | None = None) -> None:
    """The optimizer state at `path` (with `name`: the one saved under that name) into `optimizer`."""
    stem = "optimizer" if name is None else f"optimizer-{name}"
    try:
        tensors = load_file(path / f"{stem}.safetensors")
        groups = json.loads((path / f"{stem}.json").read_text())["param_groups"]
    except (SafetensorError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: optimizer state cannot be read ({str(exc).splitlines()[0][:120]})") from None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": groups})
