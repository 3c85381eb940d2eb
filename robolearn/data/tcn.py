"""Which frames a time-contrastive batch holds, for episodes of multi-view video: index arithmetic only, so a loader
reads exactly these frames and a test can check every label.

Frames are named by their global index in a store (episode k's frames are ends[k-1] .. ends[k]-1), and a moment's
label is that index: unique to its (episode, time), so two different episodes' frames are never positives of each
other, however many episodes a batch holds and whatever their times.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robolearn.data.store import StoreError


def _starts(ends: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    ends = np.asarray(ends, np.int64)
    return np.concatenate([[0], ends[:-1]]), ends - np.concatenate([[0], ends[:-1]])


def multiview_windows(ends: Sequence[int], rng: np.random.Generator, *, episodes: int, window: int,
                      stride: int = 1) -> np.ndarray:  # fmt: skip
    """Global frame indices (episodes * window,) of one multi-view batch: `episodes` different episodes (of those
    ending at `ends`), in each `window` moments `stride` frames apart from a random start. Every moment's label is
    its own index. StoreError in one line where no episode is long enough or too few are."""
    starts, lengths = _starts(ends)
    span = (window - 1) * stride + 1
    fit = np.flatnonzero(lengths >= span)
    if len(fit) < episodes:
        raise StoreError(f"{len(fit)} episode(s) hold a time window of {window} frames {stride} apart ({span} frames; "
                         f"the longest has {int(lengths.max(initial=0))}), and a batch takes {episodes}: use shorter "
                         "windows, a smaller stride, fewer episodes a batch or longer episodes")  # fmt: skip
    chosen = rng.choice(fit, episodes, replace=False)
    first = starts[chosen] + (rng.random(episodes) * (lengths[chosen] - span + 1)).astype(np.int64)
    return (first[:, None] + stride * np.arange(window)[None, :]).reshape(-1)


def view_pairs(rng: np.random.Generator, n: int, views: int, allowed: Sequence[int] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(anchor view, positive view) for each of `n` moments: two different views of the `allowed` ones (default
    all `views`), drawn at random."""
    allowed = np.arange(views) if allowed is None else np.asarray(allowed)
    if len(allowed) < 2:
        raise StoreError(f"multi-view training needs two views of each moment; {len(allowed)} of {views} allowed")
    a = rng.integers(len(allowed), size=n)
    p = (a + 1 + rng.integers(len(allowed) - 1, size=n)) % len(allowed)
    return allowed[a], allowed[p]


def single_view_triplets(ends: Sequence[int], rng: np.random.Generator, n: int, *, positive_radius: int,
                         negative_radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(anchor, positive, negative) global frame indices of `n` single-view triplets: the positive at most
    `positive_radius` frames from the anchor (not the anchor itself), the negative more than `negative_radius`
    frames from it, both in the anchor's own episode."""
    if not 0 < positive_radius < negative_radius:
        raise StoreError(f"single-view TCN: positive_radius ({positive_radius}) must be at least 1 and below "
                         f"negative_radius ({negative_radius})")  # fmt: skip
    starts, lengths = _starts(ends)
    fit = np.flatnonzero(lengths > negative_radius + 1)
    if not len(fit):
        raise StoreError(f"single-view TCN: no episode is longer than negative_radius + 1 ({negative_radius + 1} "
                         "frames), so no anchor has a negative")  # fmt: skip
    episode = fit[rng.integers(len(fit), size=n)]
    length = lengths[episode]
    t = rng.integers(0, length)
    offset = rng.integers(1, positive_radius + 1, size=n) * rng.choice([-1, 1], size=n)
    tp = t + offset
    tp = np.where((tp < 0) | (tp >= length), t - offset, tp)  # the other side where one side leaves the episode
    tp = np.clip(tp, 0, length - 1)
    tp = np.where(tp == t, np.where(t + 1 < length, t + 1, t - 1), tp)
    far = [np.concatenate([np.arange(0, max(0, ti - negative_radius)), np.arange(ti + negative_radius + 1, li)])
           for ti, li in zip(t, length)]  # fmt: skip
    tn = np.array([f[rng.integers(len(f))] if len(f) else -1 for f in far])
    ok = tn >= 0  # an anchor in the middle of a short episode can have no frame far enough away: draw it again
    if not ok.all():
        more = single_view_triplets(ends, rng, int((~ok).sum()), positive_radius=positive_radius,
                                    negative_radius=negative_radius)  # fmt: skip
        a, p, neg = (starts[episode] + x for x in (t, tp, tn))
        return (np.concatenate([a[ok], more[0]]), np.concatenate([p[ok], more[1]]),
                np.concatenate([neg[ok], more[2]]))  # fmt: skip
    s = starts[episode]
    return s + t, s + tp, s + tn
