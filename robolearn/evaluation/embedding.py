"""How much of a robot's pose an embedding of its images holds: `robolearn eval-embedding`.

On held-out episodes of a motion store (robolearn.envs.motion), every embedder in one run, on the same frames:
- cross-view alignment error: for each episode and ordered pair of views, each frame's nearest neighbour in the other
  view's video, mean |t - t_nn| / T (0 aligned; about 1/3 for an embedding that knows no time), over the seen views
  and over the pairs that involve a held-out view;
- Kendall's tau between episodes of the same motion (the TCC protocol, Dwibedi et al. 2019): for two videos of one
  camera index, each frame's nearest neighbour in the other video; tau-b (TCC's) between the frames' order and
  their neighbours' (1: the same progression). Reported per motion and as the mean over grasps and pushes, whose
  phases every episode shares (reaches go through random points);
- pose probe: ridge regression from the frozen embedding to the joint angles and the grasp point's position, fitted
  on 1%, 10% and 100% of a training store's labelled frames (seen views): mean absolute error in radians, mean
  distance in centimetres, on the held-out episodes' seen views;
- across arms: with `cross` (the other arm's episodes of the same seeds: the same paths, the same cameras), the
  alignment error and tau between the two arms' videos of each camera.

Embedders: a TCN checkpoint (any training loss), the same network untrained, and raw pixels (16 x 16, in [0, 1]).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.data.info import dataset_stores
from robolearn.data.store import StoreError
from robolearn.models.embedders import Embedder, pixel_embedder, tcn_embedder  # noqa: F401  (eval-embedding's)
from robolearn.train.metrics import alignment_error, nearest

FRACTIONS = (0.01, 0.1, 1.0)
ORDERED_MOTIONS = ("grasp", "push")  # motions whose phases every episode shares: Kendall's tau is meaningful
METRICS_VERSION = 2  # in every report.json; a report of another version is measured again (1: tau-a, 2: tau-b)


@dataclass
class MotionEpisodes:
    """Episodes of motion stores, in memory: rgb (T, V, H, W, 3) each, joints (T, 7), tip (T, 3), motion, seed."""

    rgb: list[np.ndarray]
    joints: list[np.ndarray]
    tip: list[np.ndarray]
    motion: list[int]
    seed: list[int]

    @classmethod
    def read(cls, url: str | Path, limit: int | None = None) -> MotionEpisodes:
        stores = dataset_stores(url)
        for s in stores:
            shape = s.frame_features.get("rgb").shape if "rgb" in s.frame_features else None
            if shape is None or len(shape) != 4 or not {"joints", "tip"} <= set(s.frame_features):
                raise StoreError(f"{s.source}: not a multi-view motion store (rgb {shape}; needs rgb (V, H, W, 3) "
                                 "frames with joints and tip labels: collect with collection/multiview_*.toml)")  # fmt: skip
        out = cls([], [], [], [], [])
        for s in stores:
            for k in range(s.n_episodes):
                if limit is not None and len(out.rgb) >= limit:
                    return out
                ep = s.episode(k)
                out.rgb.append(ep["rgb"])
                out.joints.append(ep["joints"].astype(np.float64))
                out.tip.append(ep["tip"][:, :3].astype(np.float64))
                out.motion.append(int(ep["motion"]))
                out.seed.append(int(ep["seed"]))
        if not out.rgb:
            raise StoreError(f"{url}: holds no episodes")
        return out

    @property
    def views(self) -> int:
        return self.rgb[0].shape[1]


def embed_episodes(embed: Embedder, episodes: MotionEpisodes) -> list[np.ndarray]:
    """(T, V, D) per episode."""
    out = []
    for rgb in episodes.rgb:
        t, v = rgb.shape[:2]
        out.append(embed(rgb.reshape(t * v, *rgb.shape[2:])).reshape(t, v, -1))
    return out


# -- metrics ---------------------------------------------------------------------------------------------------
def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b of two sequences, TCC's (scipy's default): (concordant - discordant pairs) over the geometric
    mean of the pairs untied in x and untied in y, so frames that share a nearest neighbour do not count against
    the order. 0 where either sequence is constant (no order to compare)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    upper = np.triu_indices(len(x), 1)
    dx, dy = np.sign(x[:, None] - x[None, :])[upper], np.sign(y[:, None] - y[None, :])[upper]
    untied = np.count_nonzero(dx) * np.count_nonzero(dy)
    return float((dx * dy).sum() / math.sqrt(untied)) if untied else 0.0


def video_tau(a: np.ndarray, b: np.ndarray) -> float:
    """TCC's alignment tau: each frame of video `a` (T, D) to its nearest frame of `b`; tau of their order."""
    return kendall_tau(np.arange(len(a)), nearest(a, b))


def tau_between_episodes(feats: list[np.ndarray], motions: list[int], views: list[int], *, max_pairs: int = 200,
                         seed: int = 0) -> dict[int, float]:  # fmt: skip
    """Mean tau per motion code over pairs of episodes of that motion (at most `max_pairs`, drawn), each seen view."""
    rng = np.random.default_rng(seed)
    out = {}
    for m in sorted(set(motions)):
        idx = [i for i, mm in enumerate(motions) if mm == m]
        pairs = list(itertools.permutations(idx, 2))
        if not pairs:
            continue
        pick = rng.permutation(len(pairs))[:max_pairs]
        out[m] = float(np.mean([video_tau(feats[pairs[p][0]][:, v], feats[pairs[p][1]][:, v])
                                for p in pick for v in views]))  # fmt: skip
    return out


def ridge_fit(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(feature mean, feature scale, weights with bias) of ridge regression on standardised features."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = np.concatenate([(x - mu) / sd, np.ones((len(x), 1))], 1)
    reg = lam * np.eye(z.shape[1])
    reg[-1, -1] = 0.0
    return mu, sd, np.linalg.solve(z.T @ z + reg, z.T @ y)


def ridge_predict(model: tuple[np.ndarray, np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    mu, sd, w = model
    return np.concatenate([(x - mu) / sd, np.ones((len(x), 1))], 1) @ w


def pose_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, fraction: float,
               *, seed: int = 0, lambdas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0)) -> dict[str, float]:  # fmt: skip
    """Ridge from features to pose (joints (7) then grasp point (3), metres) on `fraction` of the training rows, its
    regulariser chosen on a fifth of them held back; errors on the test rows: joints mean |error| (rad), grasp
    point mean distance (cm)."""
    rng = np.random.default_rng(seed)
    n = max(10, int(round(fraction * len(train_x))))
    rows = rng.permutation(len(train_x))[:n]
    fit, check = rows[: max(5, int(0.8 * n))], rows[max(5, int(0.8 * n)) :]
    if len(check) == 0:
        check = fit
    best = min(lambdas, key=lambda lam: np.mean((ridge_predict(ridge_fit(train_x[fit], train_y[fit], lam),
                                                                train_x[check]) - train_y[check]) ** 2))  # fmt: skip
    pred = ridge_predict(ridge_fit(train_x[rows], train_y[rows], best), test_x)
    return {"joints_rad": float(np.abs(pred[:, :7] - test_y[:, :7]).mean()),
            "tip_cm": float(100 * np.linalg.norm(pred[:, 7:10] - test_y[:, 7:10], axis=1).mean()),
            "frames": int(n), "lambda": best}  # fmt: skip


def _rows(feats: list[np.ndarray], eps: MotionEpisodes, views: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(frames x views, D) features and their (., 10) pose labels."""
    x = np.concatenate([f[:, v] for f in feats for v in views])
    y = np.concatenate([np.concatenate([j, t], 1) for j, t in zip(eps.joints, eps.tip) for _ in views])
    return x, y


def evaluate(embed: Embedder, test: MotionEpisodes, *, feats: list[np.ndarray] | None = None,
             train: MotionEpisodes | None = None, cross: MotionEpisodes | None = None,
             held_out_views: tuple[int, ...] = (), seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Every metric of one embedder (module docstring); `feats`: `embed_episodes(embed, test)` where the caller has
    it already (for pictures), so the held-out episodes are embedded once."""
    from robolearn.envs.motion import MOTIONS

    views = test.views
    seen = [v for v in range(views) if v not in held_out_views]
    feats = embed_episodes(embed, test) if feats is None else feats
    seen_pairs = list(itertools.permutations(seen, 2))
    held_pairs = [(i, j) for i, j in itertools.permutations(range(views), 2) if i in held_out_views or j in held_out_views]  # fmt: skip
    taus = tau_between_episodes(feats, test.motion, seen, seed=seed)
    ordered = [taus[MOTIONS.index(m)] for m in ORDERED_MOTIONS if MOTIONS.index(m) in taus]
    report: dict[str, Any] = {
        "alignment_error": alignment_error(feats, seen_pairs),
        "alignment_error_held_out_views": alignment_error(feats, held_pairs),
        "kendall_tau": float(np.mean(ordered)) if ordered else None,
        "kendall_tau_by_motion": {MOTIONS[m]: t for m, t in taus.items()},
        "episodes": len(feats),
    }
    if train is not None:
        tx, ty = _rows(embed_episodes(embed, train), train, seen)
        x, y = _rows(feats, test, seen)
        report["probe"] = {f"{f:g}": pose_probe(tx, ty, x, y, f, seed=seed) for f in FRACTIONS}
    if cross is not None:
        other = embed_episodes(embed, cross)
        by_seed = {s: i for i, s in enumerate(cross.seed)}
        pairs = [(feats[i], other[by_seed[s]]) for i, s in enumerate(test.seed) if s in by_seed]
        if pairs:
            err = [
                np.abs(nearest(a[:, v], b[:, v]) - np.arange(len(a))).mean() / len(a) for a, b in pairs for v in seen
            ]
            tau = [video_tau(a[:, v], b[:, v]) for a, b in pairs for v in seen]
            report["cross_arm"] = {"alignment_error": float(np.mean(err)), "kendall_tau": float(np.mean(tau)),
                                   "episodes": len(pairs)}  # fmt: skip
    return report


# -- pictures --------------------------------------------------------------------------------------------------
def pca_picture(path: Path, feats: list[np.ndarray], title: str, episodes: int = 6) -> None:
    """The first two principal components of a few episodes' embeddings (view 0), coloured by time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = feats[:episodes]
    x = np.concatenate([f[:, 0] for f in chosen])
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    fig, ax = plt.subplots(figsize=(4, 3.6), dpi=120)
    for f in chosen:
        z = (f[:, 0] - x.mean(0)) @ vt[:2].T if len(vt) >= 2 else np.zeros((len(f), 2))
        ax.plot(z[:, 0], z[:, 1], color="0.8", lw=0.6, zorder=1)
        sc = ax.scatter(z[:, 0], z[:, 1], c=np.linspace(0, 1, len(f)), cmap="viridis", s=10, zorder=2)
    fig.colorbar(sc, ax=ax, label="time in the episode")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def alignment_video(path: Path, feats: list[np.ndarray], episodes: MotionEpisodes, *, fps: float = 8.0) -> None:
    """Episode 0's view 0 (the query) beside its nearest frames in view 1 of the same episode and in view 0 of the
    next episode of the same motion."""
    from robolearn.evaluation.media import write_mp4

    same = [i for i in range(1, len(feats)) if episodes.motion[i] == episodes.motion[0]]
    other = same[0] if same else min(1, len(feats) - 1)
    q = feats[0][:, 0]
    nn_view = nearest(q, feats[0][:, 1 % episodes.views])
    nn_other = nearest(q, feats[other][:, 0])
    frames = [np.concatenate([episodes.rgb[0][t, 0], episodes.rgb[0][nn_view[t], 1 % episodes.views],
                              episodes.rgb[other][nn_other[t], 0]], axis=1) for t in range(len(q))]  # fmt: skip
    write_mp4(path, frames, fps=fps)


# -- the table -------------------------------------------------------------------------------------------------
def markdown_table(reports: dict[str, dict[str, Any]]) -> str:
    """One row per embedder."""

    def num(x, fmt=".3f"):
        return "–" if x is None else format(x, fmt)

    head = ("| embedder | alignment error (seen views) | alignment error (held-out views) | Kendall's tau | "
            "probe joints, rad (1% / 10% / 100%) | probe grasp point, cm (1% / 10% / 100%) | across arms: alignment "
            "/ tau |")  # fmt: skip
    lines = [head, "|---|---|---|---|---|---|---|"]
    for name, r in reports.items():
        probe = r.get("probe") or {}
        joints = " / ".join(num(probe[f"{f:g}"]["joints_rad"]) for f in FRACTIONS) if probe else "–"
        tip = " / ".join(num(probe[f"{f:g}"]["tip_cm"], ".1f") for f in FRACTIONS) if probe else "–"
        cross = r.get("cross_arm")
        cross_s = f"{cross['alignment_error']:.3f} / {cross['kendall_tau']:.2f}" if cross else "–"
        lines.append(f"| {name} | {num(r['alignment_error'])} | {num(r['alignment_error_held_out_views'])} | "
                     f"{num(r['kendall_tau'], '.2f')} | {joints} | {tip} | {cross_s} |")  # fmt: skip
    return "\n".join(lines)


def write_report(out: Path, reports: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({**meta, "metrics_version": METRICS_VERSION, "embedders": reports},
                                                indent=2))  # fmt: skip
    (out / "table.md").write_text(markdown_table(reports) + "\n")
