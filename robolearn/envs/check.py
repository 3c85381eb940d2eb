"""`robolearn check-env`: gymnasium's and stable-baselines3's env checkers on any env id or env TOML, then some
random steps, so a user can check an env of their own before collecting with it or training an agent on it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from robolearn.config import ConfigError


def check_env(spec: str | Path, *, steps: int = 20, seed: int = 0) -> list[str]:
    """Check the env of `spec` (a registered id or an env TOML): gymnasium's `check_env` (spaces, reset and step
    signatures, seeding, observations inside the space) and stable-baselines3's (what its algorithms need), then
    `steps` random actions with every observation checked against the space. The lines of a report; ConfigError
    naming the first problem."""
    from gymnasium.utils.env_checker import check_env as gym_check

    from robolearn.compat import quiet_gym

    quiet_gym()  # before stable-baselines3, which imports it
    from stable_baselines3.common.env_checker import check_env as sb3_check

    from robolearn.envs import make_env

    lines = []
    env = make_env(spec)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for name, checker in (("gymnasium", lambda: gym_check(env, skip_render_check=True)),
                                  ("stable-baselines3", lambda: sb3_check(env, warn=True))):  # fmt: skip
                try:
                    checker()
                except (AssertionError, ValueError, TypeError, RuntimeError) as exc:
                    raise ConfigError(f"{spec}: {name} env checker: {str(exc).splitlines()[0]}") from None
                lines.append(f"{name} env checker: passed")
        lines += sorted({f"warning: {str(w.message).splitlines()[0]}" for w in caught})
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        done = episodes = 0
        for _ in range(steps):
            obs, reward, terminated, truncated, _ = env.step(rng.uniform(-1, 1, env.action_space.shape))
            if obs not in env.observation_space:
                bad = [k for k, space in env.observation_space.spaces.items() if obs[k] not in space]
                raise ConfigError(f"{spec}: an observation left the observation space (keys {', '.join(bad)})")
            if not np.isfinite(reward):
                raise ConfigError(f"{spec}: a reward is not finite ({reward})")
            done += 1
            if terminated or truncated:
                episodes += 1
                obs, _ = env.reset()
        lines.append(f"{done} random steps ({episodes} episodes ended): observations in the space, rewards finite")
    finally:
        env.close()
    return lines
