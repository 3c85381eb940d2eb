"""The Policy protocol that collection and evaluation depend on, and the random policy."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Anything with `reset()` and `act(obs) -> action`."""

    def reset(self) -> None: ...

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...


def start_episode(env: Any, policy: Policy, seed: int, policy_seed: int | None = None
                  ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # fmt: skip
    """Reset `env` with `seed` and `policy` for a new episode; a policy's own randomness (`.rng`)
    is reseeded from `policy_seed` (by default the same seed), so an episode is a function of its
    seeds alone."""
    obs, info = env.reset(seed=seed)
    if hasattr(policy, "rng"):
        policy.rng = np.random.default_rng(seed if policy_seed is None else policy_seed)
    policy.reset()
    return obs, info


class RandomPolicy:
    """Uniform random actions in [-1, 1]; `down_bias` shifts dz toward descending (Levine, Quillen et al.)."""

    def __init__(self, *, action_dim: int = 4, down_bias: float = 0.0, seed: int | None = None) -> None:
        self.action_dim = action_dim
        self.down_bias = down_bias
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, obs: Any) -> np.ndarray:
        a = self.rng.uniform(-1.0, 1.0, self.action_dim)
        if self.action_dim >= 3:
            a[2] = np.clip(a[2] - self.down_bias, -1.0, 1.0)
        return a.astype(np.float32)
