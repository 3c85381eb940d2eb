"""Grasp frames for training the grasp-success CNN: each frame's image, Levine's motor command v_t and its
episode's success, from the episodes a split chooses (robolearn.data.stream streams them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robolearn.data.info import non_finite_episodes
from robolearn.data.store import EpisodeStore, StoreError
from robolearn.data.stream import Selection, held_out
from robolearn.envs import grasp

IMAGE = "rgb"
COMMAND = "motor_command"
LABEL = "success"


def check_store(store: EpisodeStore, image_size: int | None = None, extra: tuple[str, ...] = ()) -> None:
    """Refuse, in one line, a store that lacks what grasp training reads (images, motor commands, success and the
    frame keys of `extra`), holds them in another shape than the grasp task declares, holds images of another size
    or holds a NaN where training reads."""
    missing = [f"data/{k}" for k in (IMAGE, COMMAND, *extra) if k not in store.frame_features]
    missing += [f"meta/{k}" for k in (LABEL,) if k not in store.episode_features]
    if missing:
        raise StoreError(f"{store.source}: grasp training needs {', '.join(missing)}, which this store does not have")
    for key in (COMMAND, *extra):
        want, got = grasp.LABEL_FEATURES.get(key), store.frame_features[key]
        if want is not None and want.shape != got.shape:
            raise StoreError(f"{store.source}: data/{key} holds {got.shape} per frame, the grasp task's is "
                             f"{want.shape}")  # fmt: skip
    shape = store.frame_features[IMAGE].shape
    if image_size is not None and shape != (image_size, image_size, 3):
        raise StoreError(f"{store.source}: rgb frames are {shape[0]}x{shape[1]}, the model takes "
                         f"{image_size}x{image_size} (set model.image_size or use another store)")  # fmt: skip
    for key in (COMMAND, *extra):
        bad = non_finite_episodes(store, key)
        if bad:
            raise StoreError(f"{store.source}: data/{key} is not finite in {len(bad)} episode(s), the first "
                             f"episode {bad[0]}; a NaN there crashes training (`robolearn info DATASET --check` lists them)")  # fmt: skip


def select(stores: Sequence[EpisodeStore], *, holdout: float, split_seed: int, part: str,
           exclude_objects: Sequence[int] = ()) -> list[Selection]:  # fmt: skip
    """Choose episodes for `part`: 'train' (not held out, and none with an object of `exclude_objects` in the
    tray: the test set's), 'holdout' (held out by a hash of the episode seed, a fraction `holdout`), or 'all'.
    Each frame is labelled with its episode's success."""
    out = []
    exclude = np.asarray(sorted(exclude_objects), np.int64)
    for store in stores:
        if part == "all":
            chosen = np.ones(store.n_episodes, bool)
        else:
            held = held_out(store, holdout, split_seed)
            chosen = held if part == "holdout" else ~held
            if part == "train" and "object_ids" in store.episode_features:
                chosen &= ~np.isin(store.values("object_ids"), exclude).any(axis=1)
        labels = {LABEL: store.values(LABEL).astype(np.float32)}
        out.append(Selection(store.source, store.episode_ends, chosen, store.group[f"data/{IMAGE}"].chunks[0], labels))
    return out


def planned_commands(store: EpisodeStore, task) -> np.ndarray:
    """data.commands = planned: the store's frames' motor commands (N, 5) to the pose the servo plans the grasp for
    from each frame (robolearn.envs.grasp.planned_commands), in an env of TaskConfig `task`."""
    return grasp.planned_commands(store.frames("state"), store.frames(COMMAND), store.episode_ends, task)
