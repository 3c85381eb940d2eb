"""One feature schema: key -> (shape, dtype), with optional bounds.

A Task's `features()` says what its episodes hold; the same declaration builds the env's observation
space, the store's arrays (`EpisodeStore.create`) and the loaders' checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Feature:
    """One key: the shape of one item (a frame, or an episode's value) and its dtype. `low` and `high` (numbers or
    arrays broadcast to `shape`) bound an observation's values; they are not stored and do not take part in
    comparisons."""

    shape: tuple[int, ...]
    dtype: str
    low: Any = field(default=None, compare=False)
    high: Any = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Feature:
        return cls(tuple(d["shape"]), d["dtype"])

    def space(self):
        """The gymnasium Box of an observation with this shape, dtype and bounds."""
        from gymnasium import spaces

        dtype = np.dtype(self.dtype)
        low = self.low if self.low is not None else (0 if dtype.kind == "u" else -np.inf)
        high = self.high if self.high is not None else (np.iinfo(dtype).max if dtype.kind == "u" else np.inf)
        if not np.isscalar(low):
            low = np.asarray(low, dtype)
        if not np.isscalar(high):
            high = np.asarray(high, dtype)
        return spaces.Box(low, high, self.shape, dtype)


@dataclass(frozen=True)
class Schema:
    """What a task's episodes hold. `observation`: the env's observation keys (its observation space); `frames`:
    what a store keeps of each frame (observations as stored, e.g. depth as float16, and the task's labels);
    `values`: one value per episode."""

    observation: dict[str, Feature]
    frames: dict[str, Feature]
    values: dict[str, Feature]

    def observation_space(self):
        from gymnasium import spaces

        return spaces.Dict({k: f.space() for k, f in self.observation.items()})
