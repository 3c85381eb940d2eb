"""A synthetic grasp store for tests and benchmarks: learnable only by combining image and command.

Each episode shows one bright square (the "object") at a random place on a noisy background; the
gripper sits at the image centre and the episode's motor command (dx, dy, 0, sin 0, cos 0) says
where it will close, in units of half the image. The grasp succeeds when the command lands within
`radius` of the object. Half the episodes aim near the object, half at random.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robolearn.data.store import EpisodeStore, Feature


def blob_episode(rng: np.random.Generator, size: int, frames: int, radius: float = 0.3):
    blob = rng.uniform(-0.7, 0.7, 2)
    target = blob + rng.normal(0, 0.15, 2) if rng.random() < 0.5 else rng.uniform(-1, 1, 2)
    success = bool(np.linalg.norm(target - blob) < radius)
    base = rng.integers(20, 90, size=(frames, size, size, 3), dtype=np.uint8)
    r = max(1, size // 12)
    cy, cx = ((blob + 1) / 2 * (size - 1)).round().astype(int)[::-1]
    base[:, max(cy - r, 0) : cy + r + 1, max(cx - r, 0) : cx + r + 1] = (230, 200, 40)
    command = np.tile(np.array([target[0], target[1], 0.0, 0.0, 1.0], np.float32), (frames, 1))
    return {"rgb": base, "motor_command": command}, success


def write_blob_store(path: str | Path, *, episodes: int, size: int = 32, frames: int = 4, seed: int = 0,
                     storage_options: dict | None = None) -> EpisodeStore:  # fmt: skip
    """A new store at `path` of `episodes` synthetic episodes (training-set object ids)."""
    rng = np.random.default_rng(seed)
    store = EpisodeStore.create(
        path,
        frame_features={"rgb": Feature((size, size, 3), "uint8"), "motor_command": Feature((5,), "float32")},
        episode_features={
            "success": Feature((), "bool"),
            "seed": Feature((), "int64"),
            "object_ids": Feature((1,), "int32"),
        },  # fmt: skip
        attrs={"synthetic": "blob"},
        storage_options=storage_options,
    )
    for k in range(episodes):
        frames_, success = blob_episode(rng, size, frames)
        store.add_episode(frames_, {"success": success, "seed": seed * 1_000_003 + k, "object_ids": [1]})
    return store
