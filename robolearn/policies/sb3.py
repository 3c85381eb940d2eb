"""A stable-baselines3 agent as a Policy: what `robolearn eval --policy sb3 --checkpoint RUN/best` runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robolearn.models.sb3 import load_agent


class SB3Policy:
    """The agent of a robolearn RL checkpoint (or, with `allow_pickle`, an SB3 .zip), acting deterministically in
    `env`, whose spaces must be the ones it learned with."""

    def __init__(self, checkpoint: str | Path, env, *, device: str = "cpu", allow_pickle: bool = False) -> None:
        self.agent, _ = load_agent(checkpoint, env.observation_space, env.action_space, device=device,
                                   allow_pickle=allow_pickle)  # fmt: skip

    def reset(self) -> None:
        pass

    def act(self, obs) -> np.ndarray:
        action, _ = self.agent.predict(obs, deterministic=True)
        return np.asarray(action)
