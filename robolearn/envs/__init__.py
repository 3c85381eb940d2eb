"""Gymnasium env ids. Importing robolearn registers them; build one with `gymnasium.make(id, **overrides)`.

Overrides are nested dicts merged into the id's preset, e.g.
`gymnasium.make("robolearn/GraspKuka-v0", camera={"width": 128, "height": 128})`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gymnasium.envs.registration import register, registry

ENV_IDS: dict[str, str] = {
    "robolearn/GraspKuka-v0": "kuka",
    "robolearn/GraspPanda-v0": "panda",
    "robolearn/KukaDiverse-v0": "kuka_diverse",
}

for _env_id, _preset in ENV_IDS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point="robolearn.envs.grasp_env:GraspEnv", kwargs={"preset": _preset})


def load_env_config(spec: str | Path, **overrides: Any):  # -> EnvConfig
    """An EnvConfig from a registered id (its preset) or a TOML file (see the repository's envs/ folder)."""
    from robolearn.config import ConfigError, load_toml
    from robolearn.envs.config import EnvConfig, make_config

    if str(spec) in ENV_IDS:
        return make_config(ENV_IDS[str(spec)], **overrides)
    path = Path(spec)
    if path.suffix != ".toml" and not path.exists():
        raise ConfigError(f"env '{spec}': neither a registered id ({', '.join(ENV_IDS)}) nor a TOML file")
    return load_toml(path, EnvConfig, overrides=overrides)


def make_env(spec: str | Path, *, render_mode: str | None = None, **overrides: Any):  # -> GraspEnv
    """A GraspEnv from a registered id or an env TOML file."""
    from robolearn.envs.grasp_env import GraspEnv

    return GraspEnv(load_env_config(spec, **overrides), render_mode=render_mode)
