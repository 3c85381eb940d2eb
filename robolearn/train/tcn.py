"""Train a time-contrastive network on multi-view video: `robolearn train policies/tcn.toml`.

One loop on the shared skeleton (robolearn.train.run): CPU, CUDA or TPU through accelerate, bf16, data-parallel,
exact resume (each step's batch is a function of (seed, step, process)), safetensors checkpoints, TensorBoard.

A batch holds `data.episodes` episodes, a window of `data.window` moments of each (`data.stride` frames apart). The
multi-view losses embed each moment from two different views (the anchor's and the positive's) of the views
training may use (`data.views`; the others are held out): n-pairs (default) or semi-hard triplets. The single-view
loss draws triplets within one view's video: a positive within `positive_radius` frames of the anchor, a negative
beyond `negative_radius`. Validation embeds every frame of the held-out episodes from every view and reports the
cross-view alignment error: for each ordered pair of views, each frame's nearest neighbour in the other view's
video, mean |t - t_nn| / T; the best checkpoint is the one with the lowest error over the training views.

The selected episodes are read into memory once (`data.memory_limit_mb`); stores hold rgb (N, V, H, W, 3).
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from robolearn.config import ConfigError, validate
from robolearn.data.augment import color_jitter
from robolearn.data.info import dataset_stores
from robolearn.data.store import EpisodeStore, StoreError
from robolearn.data.stream import held_out
from robolearn.data.tcn import multiview_windows, single_view_triplets, view_pairs
from robolearn.models.checkpoint import step_dir
from robolearn.models.tcn import TCN, TCNConfig, npairs_loss, triplet_loss, triplet_semihard_loss
from robolearn.train import run
from robolearn.train.metrics import alignment_error


class TCNDataConfig(run.StoresConfig):
    episodes: int = Field(4, ge=1, description="episodes a batch draws its time windows from")
    window: int = Field(8, ge=1, description="moments of each episode in a batch")
    stride: int = Field(1, ge=1, description="frames between a window's moments")
    views: list[int] | None = Field(None, description="the views training uses; the others are held out (None: all)")
    color_jitter: float = Field(0.1, ge=0, le=1, description="brightness/contrast/channel gain, on device")
    memory_limit_mb: int = Field(4096, ge=1, description="the selected episodes' frames are read into memory")


class TCNTrainConfig(run.RunConfig):
    """`policies/tcn.toml`."""

    kind: Literal["tcn"] = Field("tcn", description="which training loop reads this file")
    preset: Literal["cpu", "gpu"] = Field("cpu", description="the network's size (TCNConfig.preset)")
    model: dict[str, Any] = Field(default_factory=dict, description="TCNConfig fields over the preset")
    loss: Literal["npairs", "triplet", "single_view", "supervised"] = Field(
        "npairs",
        description="npairs | triplet (multi-view) | single_view (triplets in time) | supervised (a baseline: the "
        "same network regresses the pose labels, joint angles and grasp point, through a linear head)",
    )
    margin: float = Field(0.2, gt=0, description="triplet and single_view: the margin")
    positive_radius: int = Field(2, ge=1, description="single_view: a positive at most this many frames away")
    negative_radius: int = Field(6, ge=2, description="single_view: a negative more than this many frames away")
    data: TCNDataConfig = Field(default_factory=TCNDataConfig)
    out: str = "out/tcn"


RESUME_KEYS = ("preset", "model", "loss", "margin", "positive_radius", "negative_radius", "data", "optim", "seed",
               "precision")  # fmt: skip


POSE_KEYS = ("joints", "tip")  # what the supervised baseline regresses: joint angles, and the grasp point (tip[:3])


class Episodes:
    """Frames of the chosen episodes of some stores, in memory: rgb (N, V, H, W, 3), where each episode ends, and
    with `pose` the pose labels (N, 10): joint angles and the grasp point's position (a motion store's labels)."""

    def __init__(self, stores: list[EpisodeStore], chosen: list[np.ndarray], *, pose: bool = False) -> None:
        parts, poses, lengths = [], [], []
        for store, pick in zip(stores, chosen):
            if pose and not set(POSE_KEYS) <= set(store.frame_features):
                raise StoreError(f"{store.source}: no pose labels ({', '.join(POSE_KEYS)}): the supervised baseline "
                                 "trains on a motion store (robolearn/MotionKuka-v0 or MotionPanda-v0)")  # fmt: skip
            for k in np.flatnonzero(pick):
                sl = store.episode_slice(int(k))
                parts.append(store.read("data/rgb", sl.start, sl.stop))
                if pose:
                    poses.append(pose_labels(store.read("data/joints", sl.start, sl.stop),
                                             store.read("data/tip", sl.start, sl.stop)))  # fmt: skip
                lengths.append(sl.stop - sl.start)
        self.rgb = np.concatenate(parts) if parts else np.zeros((0,), np.uint8)
        self.pose = np.concatenate(poses) if poses else None
        self.ends = np.cumsum(lengths).astype(np.int64)

    def __len__(self) -> int:
        return len(self.ends)

    def episode(self, k: int) -> np.ndarray:
        return self.rgb[(self.ends[k - 1] if k else 0) : self.ends[k]]


def pose_labels(joints: np.ndarray, tip: np.ndarray) -> np.ndarray:
    """(N, 10) float32: the joint angles (rad) and the grasp point's position (m) of each frame."""
    return np.concatenate([np.asarray(joints, np.float32), np.asarray(tip, np.float32)[:, :3]], axis=1)


def check_stores(cfg: TCNTrainConfig, stores: list[EpisodeStore], source: str) -> tuple[int, int, list[int]]:
    """(views, image size, the views training uses), after refusing in one line a store a TCN cannot train on."""
    shapes = {s.source: s.frame_features["rgb"].shape if "rgb" in s.frame_features else None for s in stores}
    for where, shape in shapes.items():
        if shape is None or len(shape) != 4 or shape[3] != 3:
            raise StoreError(f"{where}: a TCN trains on multi-view video, rgb (N, V, H, W, 3) per frame; this store "
                             f"holds rgb {shape} (a single-view store: collect with a multi-view campaign)")  # fmt: skip
        if shape != next(iter(shapes.values())):
            raise StoreError(
                f"{where}: rgb {shape} per frame, {next(iter(shapes))} holds {next(iter(shapes.values()))}"
            )
    views, h, w, _ = next(iter(shapes.values()))
    if h != w:
        raise StoreError(f"{next(iter(shapes))}: {w}x{h} images; the TCN takes square ones")
    allowed = list(range(views)) if cfg.data.views is None else list(cfg.data.views)
    if any(not 0 <= v < views for v in allowed):
        raise ConfigError(f"{source}: data.views {allowed}: the stores hold views 0-{views - 1}")
    if cfg.loss in ("npairs", "triplet") and len(set(allowed)) < 2:
        raise ConfigError(f"{source}: data.views {allowed} leaves {len(set(allowed))} view(s) for training; the "
                          f"{cfg.loss} loss needs two views of each moment (hold out fewer, or loss = \"single_view\")")  # fmt: skip
    return views, h, allowed


def view_pairs_of(views: int, held: list[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(ordered pairs of the seen views, ordered pairs with a held-out view in them) of `views` views."""
    pairs = list(itertools.permutations(range(views), 2))
    return [p for p in pairs if not set(p) & set(held)], [p for p in pairs if set(p) & set(held)]


@torch.no_grad()
def alignment(model: TCN, episodes: Episodes, device, pair_sets: list[list[tuple[int, int]]], batch: int = 256
              ) -> list[float | None]:  # fmt: skip
    """For each set of ordered view pairs (i, j), the mean over `episodes` and the pairs of |t - t_nn| / T, t_nn the
    nearest frame of view j's video to view i's frame t in embedding space (0: perfectly aligned; about 1/3 for
    embeddings that know no time); None for an empty set. Each episode's views are embedded once."""
    feats = []
    was = model.training
    model.eval()
    for k in range(len(episodes)):
        rgb = torch.from_numpy(episodes.episode(k))  # (T, V, H, W, 3)
        e = torch.cat([model({"rgb": rgb[i : i + batch].to(device)})[0] for i in range(0, len(rgb), batch)])
        feats.append(e.float().cpu().numpy())
    model.train(was)
    return [alignment_error(feats, pairs) for pairs in pair_sets]  # eval-embedding's metric, the same function


def train(cfg: TCNTrainConfig, *, resume: bool = False, source: str = "config", progress: bool = True
          ) -> dict[str, Any]:  # fmt: skip
    """Run TCN training as `cfg` says; returns the summary also written to `<out>/summary.json`."""
    from accelerate.utils import set_seed

    acc = run.accelerator(device=cfg.device, precision=cfg.precision, deterministic=cfg.deterministic)
    out, prior = run.run_folder(cfg.out, resume=resume)

    # -- data: the chosen episodes, in memory ---------------------------------------------------------------
    if not cfg.data.stores:
        raise ConfigError(f"{source}: no training data: set data.stores or pass --store")
    stores = [s for d in cfg.data.stores for s in dataset_stores(d)]
    val_stores = [s for d in cfg.data.val_stores for s in dataset_stores(d)]
    n_views, size, allowed = check_stores(cfg, [*stores, *val_stores], source)
    frame_bytes = int(np.prod(stores[0].frame_features["rgb"].shape))
    total = sum(s.n_frames for s in [*stores, *val_stores]) * frame_bytes
    if total > cfg.data.memory_limit_mb * 2**20:
        raise ConfigError(f"{source}: the episodes hold {total / 2**20:.0f} MB of frames, over data.memory_limit_mb "
                          f"({cfg.data.memory_limit_mb}); raise it or train on fewer episodes")  # fmt: skip
    held = [held_out(s, cfg.data.holdout if not val_stores else 0.0, cfg.data.split_seed) for s in stores]
    train_eps = Episodes(stores, [~h for h in held], pose=cfg.loss == "supervised")
    threads = run.set_threads(cfg.threads, prior)
    val_eps = Episodes(val_stores, [np.ones(s.n_episodes, bool) for s in val_stores]) if val_stores else Episodes(
        stores, held)  # fmt: skip
    if not len(train_eps):
        raise ConfigError(f"{source}: no training episodes (holdout {cfg.data.holdout} of {sum(map(len, held))})")
    rng0 = np.random.default_rng(0)  # fail now, in one line, where the episodes cannot fill a batch
    if cfg.loss == "supervised":
        pass  # any frame will do
    elif cfg.loss == "single_view":
        single_view_triplets(train_eps.ends, rng0, 1, positive_radius=cfg.positive_radius,
                             negative_radius=cfg.negative_radius)  # fmt: skip
    else:
        multiview_windows(train_eps.ends, rng0, episodes=cfg.data.episodes, window=cfg.data.window,
                          stride=cfg.data.stride)  # fmt: skip
    held_views = [v for v in range(n_views) if v not in allowed]

    # -- model, optimizer, resume -----------------------------------------------------------------------------
    pose_outputs = {"pose_outputs": train_eps.pose.shape[1]} if cfg.loss == "supervised" else {}
    mcfg = validate(TCNConfig, {**TCNConfig.preset(cfg.preset).model_dump(), "image_size": size, **cfg.model,
                                **pose_outputs}, source=f"{source} [model]")  # fmt: skip
    if mcfg.image_size != size:
        raise ConfigError(f"{source}: model.image_size {mcfg.image_size}, the stores hold {size}x{size} images")
    set_seed(cfg.seed)
    model = TCN(mcfg)
    if cfg.init_from and prior is None:
        run.warm_start(model, cfg.init_from, model_name="TCN", config=mcfg)
    if cfg.loss == "supervised":  # the labels, standardised, as the pose head's targets
        pose_mean = torch.from_numpy(train_eps.pose.mean(0))
        pose_std = torch.from_numpy(train_eps.pose.std(0) + 1e-6)
    opt = run.adamw(model, cfg.optim)
    run_meta = {"train": cfg.model_dump(), "processes": acc.num_processes, "views": n_views, "threads": threads,
                "held_out_views": held_views}  # fmt: skip
    start = run.resume_from(prior, model, model_name="TCN", train_cls=TCNTrainConfig, run_meta=run_meta,
                            train_keys=RESUME_KEYS, meta_keys=("processes",))  # fmt: skip
    model, opt = acc.prepare(model, opt)
    run.resume_optimizer(prior, opt)
    raw = acc.unwrap_model(model)
    log = run.Log(out, config=cfg.model_dump(), start=start, steps=cfg.steps, main=acc.is_main_process,
                  progress=progress, desc="train tcn")  # fmt: skip
    best = run.Best(out / "best", "alignment_error", resume=resume, higher=False)

    def validate_now(step: int) -> dict[str, Any]:
        seen, unseen = alignment(raw, val_eps, acc.device, list(view_pairs_of(n_views, held_views)))
        report = {"alignment_error": seen, "alignment_error_held_out_views": unseen, "episodes": len(val_eps)}
        if acc.is_main_process:
            best.offer(report, model=raw, model_name="TCN", config=mcfg.model_dump(), step=step, extra=run_meta)
        log.scalars(step, "val", {k: v for k, v in report.items() if k != "episodes"})
        log.metrics(step, report)
        return report

    def embed(rgb: np.ndarray, gen: torch.Generator, key: int = 0) -> torch.Tensor:
        x = color_jitter(torch.from_numpy(rgb).to(acc.device), cfg.data.color_jitter, gen)
        with acc.autocast():
            out = model({"rgb": x})
            return (out[0] if key == 0 else out[1]["pose"]).float()

    # -- the loop -------------------------------------------------------------------------------------------------
    step_s = batch_s = 0.0  # the steps' time (validation and checkpoints apart), and the batches' assembly in it
    report: dict[str, Any] = {}
    running, n_running = 0.0, 0
    for step in range(start, cfg.steps):
        t_step = time.perf_counter()
        run.set_lr(opt, run.learning_rate(step, cfg.steps, cfg.optim))
        rng = np.random.default_rng([cfg.seed, step, acc.process_index])  # the batch: a function of the step
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * max(1, acc.num_processes) + acc.process_index)
        if cfg.loss == "supervised":
            n = 2 * cfg.data.episodes * cfg.data.window  # as many images as a multi-view batch
            idx = rng.integers(len(train_eps.rgb), size=n)
            v = np.asarray(allowed)[rng.integers(len(allowed), size=n)]
            images = train_eps.rgb[idx, v]
            target = ((torch.from_numpy(train_eps.pose[idx]) - pose_mean) / pose_std).to(acc.device)
            batch_s += time.perf_counter() - t_step
            loss = torch.nn.functional.mse_loss(embed(images, gen, key=1), target)
        elif cfg.loss == "single_view":
            n = cfg.data.episodes * cfg.data.window
            a, p, neg = single_view_triplets(train_eps.ends, rng, n, positive_radius=cfg.positive_radius,
                                             negative_radius=cfg.negative_radius)  # fmt: skip
            v = np.asarray(allowed)[rng.integers(len(allowed), size=n)]
            images = np.concatenate([train_eps.rgb[a, v], train_eps.rgb[p, v], train_eps.rgb[neg, v]])
            batch_s += time.perf_counter() - t_step
            e = embed(images, gen)
            loss = triplet_loss(e[:n], e[n : 2 * n], e[2 * n :], cfg.margin)
        else:
            idx = multiview_windows(train_eps.ends, rng, episodes=cfg.data.episodes, window=cfg.data.window,
                                    stride=cfg.data.stride)  # fmt: skip
            va, vp = view_pairs(rng, len(idx), n_views, allowed)
            images = np.concatenate([train_eps.rgb[idx, va], train_eps.rgb[idx, vp]])
            batch_s += time.perf_counter() - t_step
            e = embed(images, gen)
            labels = torch.from_numpy(idx).to(e.device)  # a moment's label: its frame index, unique to (episode, t)
            anchors, positives = e[: len(idx)], e[len(idx) :]
            loss = (npairs_loss(anchors, positives, labels) if cfg.loss == "npairs"
                    else triplet_semihard_loss(e, torch.cat([labels, labels]), cfg.margin))  # fmt: skip
        acc.backward(loss)
        if cfg.optim.grad_clip:
            acc.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step_s += time.perf_counter() - t_step
        running, n_running = running + loss.detach(), n_running + 1
        done = step + 1
        log.bar.update(1)
        if done % cfg.log_every == 0 and acc.is_main_process:
            mean = float(running) / n_running
            log.scalars(done, "train", {"loss": mean, "lr": run.learning_rate(step, cfg.steps, cfg.optim)})
            log.bar.set_postfix(loss=f"{mean:.3f}", align=report.get("alignment_error"))
            running, n_running = 0.0, 0
        if done % cfg.eval_every == 0 or done == cfg.steps:
            report = validate_now(done)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            run.save_checkpoint(acc, step_dir(out / "checkpoints", done), model=raw, model_name="TCN",
                            config=mcfg.model_dump(), step=done, optimizer=opt.optimizer, extra=run_meta)  # fmt: skip
    if not report:
        report = validate_now(cfg.steps)
    steps_run = cfg.steps - start
    per_step = 2 * cfg.data.episodes * cfg.data.window * (1.5 if cfg.loss == "single_view" else 1)
    summary = {
        "out": str(out), "checkpoint": str(step_dir(out / "checkpoints", cfg.steps)),
        "best_checkpoint": str(best.path) if best.value is not None else None, "best_alignment_error": best.value,
        "steps": cfg.steps, "resumed_from": start, "device": str(acc.device), "processes": acc.num_processes,
        "threads": threads, "precision": cfg.precision, "loss": cfg.loss, "image_size": size, "views": n_views,
        "held_out_views": held_views, "train_episodes": len(train_eps), "val_episodes": len(val_eps),
        "images_per_s": steps_run * per_step * acc.num_processes / step_s if steps_run else None,
        "batch_fraction": batch_s / step_s if steps_run else None,
        "val": report, "main_process": acc.is_main_process,
    }  # fmt: skip
    log.close(summary)
    acc.wait_for_everyone()
    acc.end_training()
    return summary
