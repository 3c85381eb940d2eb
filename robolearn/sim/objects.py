"""The 1000 procedural objects of pybullet_data/random_urdfs and their train/test split.

Test objects are the ids ending in 0 (100 of them), training objects the other
900, as in pybullet's KukaDiverseObjectEnv and Quillen et al. 2018, less object 168: its mesh's
vertices are all NaN in pybullet_data, so it has no collision shape, falls through the floor and
has no grasp point; no split holds it.
"""

from __future__ import annotations

import glob
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pybullet_data

NUM_OBJECTS = 1000
BROKEN_IDS: tuple[int, ...] = (168,)  # no geometry (NaN vertices): not an object
TEST_IDS: tuple[int, ...] = tuple(i for i in range(NUM_OBJECTS) if i % 10 == 0 and i not in BROKEN_IDS)
TRAIN_IDS: tuple[int, ...] = tuple(i for i in range(NUM_OBJECTS) if i % 10 != 0 and i not in BROKEN_IDS)

Split = Literal["train", "test", "all"]


def split_ids(split: Split) -> tuple[int, ...]:
    """The object ids of a split."""
    return {"train": TRAIN_IDS, "test": TEST_IDS, "all": tuple(sorted(TRAIN_IDS + TEST_IDS))}[split]


@cache
def listing_order(split: Split) -> tuple[int, ...]:
    """The split's object ids as KukaDiverseObjectEnv lists them: `glob` of random_urdfs/*0/*.urdf (test) or
    *[1-9]/*.urdf (train), unsorted, so in the order of the file system it runs on, and object 168 among them."""
    pattern = {"test": "*0/*.urdf", "train": "*[1-9]/*.urdf"}[split]
    return tuple(int(Path(f).stem) for f in glob.glob(str(Path(pybullet_data.getDataPath()) / "random_urdfs" / pattern)))


def object_urdf(object_id: int) -> str:
    """Path of the URDF of object `object_id` (0-999)."""
    if not 0 <= object_id < NUM_OBJECTS:
        raise ValueError(f"object id {object_id} is outside 0-{NUM_OBJECTS - 1}")
    return str(Path(pybullet_data.getDataPath()) / "random_urdfs" / f"{object_id:03d}" / f"{object_id:03d}.urdf")


@cache
def object_vertices(object_id: int) -> np.ndarray:
    """(n, 3) float64 vertices of the object's mesh in its own frame, scaled as its URDF scales them.

    Privileged geometry for the scripted oracle (grasp point and grasp axis).
    """
    obj = Path(object_urdf(object_id)).with_suffix(".obj")
    verts = [line.split()[1:4] for line in obj.read_text().splitlines() if line.startswith("v ")]
    return np.asarray(verts, dtype=np.float64) * 0.015  # the scale in every random_urdfs URDF
