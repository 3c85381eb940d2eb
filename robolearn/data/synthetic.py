"""Synthetic stores for tests and benchmarks: a grasp store, and a multi-view video store.

The grasp store is learnable only by combining image and command.

Each episode shows one bright square (the "object") at a random place on a noisy background; the
gripper sits at the image centre and the episode's motor command (dx, dy, 0, sin 0, cos 0) says
where it will close, in units of half the image. The grasp succeeds when the command lands within
`radius` of the object. Half the episodes aim near the object, half at random.

With `depth`, a second square of the same colour (a flat decoy: a picture of the object) is drawn as
well, and a depth image (metres) in which only the object stands out of the table: the image alone
cannot tell the two apart, the depth can. A third of the episodes aim near the decoy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robolearn.data.store import EpisodeStore, Feature


def blob_episode(rng: np.random.Generator, size: int, frames: int, radius: float = 0.3, depth: bool = False):
    blob = rng.uniform(-0.7, 0.7, 2)
    decoy = blob
    while depth and np.linalg.norm(decoy - blob) < 3 * radius:
        decoy = rng.uniform(-0.7, 0.7, 2)
    u = rng.random()  # where the command aims: near the object, near the decoy (with depth), or anywhere
    aims = (blob, decoy) if depth else (blob,)
    k = int(u * (len(aims) + 1))
    target = aims[k] + rng.normal(0, 0.15, 2) if k < len(aims) else rng.uniform(-1, 1, 2)
    success = bool(np.linalg.norm(target - blob) < radius)
    base = rng.integers(20, 90, size=(frames, size, size, 3), dtype=np.uint8)
    r = max(1, size // 12)

    def square(centre: np.ndarray) -> tuple[slice, slice]:
        cy, cx = ((centre + 1) / 2 * (size - 1)).round().astype(int)[::-1]
        return slice(max(cy - r, 0), cy + r + 1), slice(max(cx - r, 0), cx + r + 1)

    out = {"rgb": base}
    for centre in (blob, decoy) if depth else (blob,):
        base[(slice(None), *square(centre))] = (230, 200, 40)
    if depth:
        d = 1.8 + rng.normal(0, 0.005, (frames, size, size))
        d[(slice(None), *square(blob))] -= 0.1  # the object stands 10 cm out of the table
        out["depth"] = d.astype(np.float16)
    out["motor_command"] = np.tile(np.array([target[0], target[1], 0.0, 0.0, 1.0], np.float32), (frames, 1))
    return out, success


def write_blob_store(path: str | Path, *, episodes: int, size: int = 32, frames: int = 4, seed: int = 0,
                     depth: bool = False, storage_options: dict | None = None) -> EpisodeStore:  # fmt: skip
    """A new store at `path` of `episodes` synthetic episodes (training-set object ids); with `depth`, the
    decoy task and its depth images."""
    rng = np.random.default_rng(seed)
    features = {"rgb": Feature((size, size, 3), "uint8"), "motor_command": Feature((5,), "float32")}
    if depth:
        features["depth"] = Feature((size, size), "float16")
    store = EpisodeStore.create(
        path,
        frame_features=features,
        episode_features={
            "success": Feature((), "bool"),
            "seed": Feature((), "int64"),
            "object_ids": Feature((1,), "int32"),
        },  # fmt: skip
        attrs={"synthetic": "blob"},
        storage_options=storage_options,
    )
    for k in range(episodes):
        frames_, success = blob_episode(rng, size, frames, depth=depth)
        store.add_episode(frames_, {"success": success, "seed": seed * 1_000_003 + k, "object_ids": [1]})
    return store


BACKGROUNDS = ((30, 30, 80), (70, 40, 20), (20, 60, 30), (60, 60, 60))


def moving_shape_episode(rng: np.random.Generator, *, frames: int = 16, views: int = 2, size: int = 16,
                         ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A bright square moving along a random straight path, seen at once by `views` cameras: camera k sees the
    scene turned k quarter turns, on a background of its own. ((T, V, size, size, 3) uint8, (T, 2) float32 the
    square's position in [0, 1]^2): multi-view video whose only shared content is the pose."""
    start, end = rng.uniform(0.15, 0.85, 2), rng.uniform(0.15, 0.85, 2)
    position = (start + (end - start) * np.linspace(0, 1, frames)[:, None]).astype(np.float32)
    out = np.zeros((frames, views, size, size, 3), np.uint8)
    for t, (y, x) in enumerate((position * (size - 3)).astype(int)):
        scene = np.zeros((size, size), bool)
        scene[y : y + 3, x : x + 3] = True
        for k in range(views):
            out[t, k] = BACKGROUNDS[k % len(BACKGROUNDS)]
            out[t, k][np.rot90(scene, k)] = (240, 220, 60) if k % 2 == 0 else (250, 250, 250)
    return out, position


def write_moving_shape_store(path: str | Path, *, episodes: int, frames: int = 16, views: int = 2, size: int = 16,
                             seed: int = 0) -> EpisodeStore:  # fmt: skip
    """A new multi-view store at `path`: `episodes` of `moving_shape_episode`, rgb (N, V, H, W, 3) with the
    square's position and the motion's phase (t / (T - 1)) as labels training never reads."""
    rng = np.random.default_rng(seed)
    store = EpisodeStore.create(
        path,
        frame_features={"rgb": Feature((views, size, size, 3), "uint8"), "position": Feature((2,), "float32"),
                        "phase": Feature((), "float32")},
        episode_features={"seed": Feature((), "int64")},
        attrs={"synthetic": "moving_shape"},
    )  # fmt: skip
    for k in range(episodes):
        rgb, position = moving_shape_episode(rng, frames=frames, views=views, size=size)
        phase = np.linspace(0, 1, frames, dtype=np.float32)
        store.add_episode({"rgb": rgb, "position": position, "phase": phase}, {"seed": seed * 1_000_003 + k})
    return store
