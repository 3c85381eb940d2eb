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
    "robolearn/KukaDiverse-v1": "kuka_diverse_v1",
    "robolearn/KukaDiverseFast-v1": "kuka_diverse_v1_fast",
}

# Multi-view motion of an arm (robolearn.envs.motion_env): the video that time-contrastive networks learn from.
MOTION_ENV_IDS: dict[str, str] = {
    "robolearn/MotionKuka-v0": "motion_kuka",
    "robolearn/MotionPanda-v0": "motion_panda",
}

# pybullet_envs' own KukaDiverseObjectEnv behind an adapter (robolearn.envs.original; the `original` extra).
ORIGINAL_ID = "pybullet_envs/KukaDiverseObjectEnv"
ORIGINAL_PRESET = "kuka_diverse_v1"  # what it is seen as: the replica's config

if ORIGINAL_ID not in registry:
    register(id=ORIGINAL_ID, entry_point="robolearn.envs.original:OriginalKukaDiverse")
for _env_id, _preset in ENV_IDS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point="robolearn.envs.grasp_env:GraspEnv", kwargs={"preset": _preset})
for _env_id, _preset in MOTION_ENV_IDS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point="robolearn.envs.motion_env:MotionEnv", kwargs={"preset": _preset})


def config_class(data: dict[str, Any]) -> type:
    """The config class of an env config's dict (a TOML's, or a campaign.json's): MotionConfig where it says
    `kind = "motion"`, else EnvConfig (grasping)."""
    from robolearn.envs.config import EnvConfig
    from robolearn.envs.motion import MotionConfig

    return MotionConfig if data.get("kind") == "motion" else EnvConfig


def load_env_config(spec: str | Path, **overrides: Any):  # -> EnvConfig | MotionConfig
    """An env's config from a registered id (its preset) or a TOML file (see the repository's envs/ folder): a
    MotionConfig where the TOML says `kind = "motion"`, else an EnvConfig (grasping)."""
    from robolearn.config import ConfigError, deep_merge, read_toml, validate
    from robolearn.envs.config import make_config
    from robolearn.envs.motion import make_motion_config

    if str(spec) in ENV_IDS:
        return make_config(ENV_IDS[str(spec)], **overrides)
    if str(spec) == ORIGINAL_ID:
        return make_config(ORIGINAL_PRESET, **overrides)
    if str(spec) in MOTION_ENV_IDS:
        return make_motion_config(MOTION_ENV_IDS[str(spec)], **overrides)
    path = Path(spec)
    if path.suffix != ".toml" and not path.exists():
        ids = ", ".join([*ENV_IDS, *MOTION_ENV_IDS, ORIGINAL_ID])
        raise ConfigError(f"env '{spec}': neither a registered id ({ids}) nor a TOML file")
    data = deep_merge(read_toml(path), overrides)
    return validate(config_class(data), data, source=str(path))


def current_env_config(config: dict[str, Any]) -> dict[str, Any]:
    """A campaign.json's env config as this version writes it: a field added since the store was written takes its
    default, which by the versioning rule (behaviour changed, id bumped) is the behaviour that came before the field.
    A config this version cannot read comes back as it was."""
    from pydantic import ValidationError

    try:
        model = config_class(config).model_validate(config)
    except ValidationError:
        return config
    return model.model_dump(mode="json")


def build_env(config: Any, *, render_mode: str | None = None):  # -> GraspEnv | MotionEnv
    """The env of a config (an EnvConfig or MotionConfig, or either's dict as a campaign.json keeps it)."""
    from robolearn.envs.motion import MotionConfig

    if isinstance(config, dict):
        config = config_class(config).model_validate(config)
    if isinstance(config, MotionConfig):
        from robolearn.envs.motion_env import MotionEnv

        return MotionEnv(config, render_mode=render_mode)
    from robolearn.envs.grasp_env import GraspEnv

    return GraspEnv(config, render_mode=render_mode)


def make_env(spec: str | Path, *, render_mode: str | None = None, **overrides: Any):  # -> GraspEnv | MotionEnv
    """The env of a registered id or an env TOML file; ORIGINAL_ID takes only an objects split."""
    if str(spec) == ORIGINAL_ID:
        from robolearn.config import ConfigError
        from robolearn.envs.original import OriginalKukaDiverse

        split = overrides.pop("objects", {}).get("split", "test")
        if overrides:
            raise ConfigError(f"{ORIGINAL_ID} is the original's code: it takes an objects split and nothing else "
                              f"(got {', '.join(overrides)})")  # fmt: skip
        return OriginalKukaDiverse(objects=split, render_mode=render_mode)
    return build_env(load_env_config(spec, **overrides), render_mode=render_mode)
