"""Train the grasp-success CNN g(I_t, v_t) on stored grasp episodes: `robolearn train policies/grasp_cnn.toml`.

One loop, top to bottom, on HF accelerate: the same code runs on CPU, CUDA and TPU (torch_xla),
in bf16 mixed precision, and data-parallel under `accelerate launch` or `torchrun` (each process
reads its own share of the store's chunks). Validation is on held-out episodes: those of
`data.val_stores` (collect them on the test objects) or else a hashed fraction of the training
episodes. Everything a resume needs is in the checkpoint: the weights, the optimizer's state and the
step; the learning rate is a function of the step and the data order a function of (seed, step).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from robolearn.config import ConfigError, validate
from robolearn.data.augment import color_jitter, random_shift
from robolearn.data.grasp import check_store, planned_commands, select
from robolearn.data.info import campaign_manifest, dataset_stores
from robolearn.data.store import EpisodeStore
from robolearn.data.stream import StreamingLoader, iterate_all
from robolearn.envs.grasp import mirror, mirror_plane
from robolearn.models import GraspCNN, GraspCNNConfig
from robolearn.models.checkpoint import step_dir
from robolearn.sim.objects import TEST_IDS
from robolearn.train.metrics import binary_report
from robolearn.train.run import (
    Best,
    Log,
    OptimConfig,
    RunConfig,
    StoresConfig,
    accelerator,
    adamw,
    learning_rate,
    resume_from,
    resume_optimizer,
    run_folder,
    save_checkpoint,
    set_lr,
    set_threads,
    warm_start,
)


class DataConfig(StoresConfig):
    batch_size: int = Field(64, ge=1, le=65536)
    buffer_frames: int = Field(4096, ge=1, description="shuffle buffer of the streaming loader, per worker")
    workers: int = Field(2, ge=0, le=64, description="loader worker processes (0: read in the training process)")
    in_memory: Literal["auto", "yes", "no"] = Field("auto", description="auto: when the frames fit memory_limit_mb")
    memory_limit_mb: int = Field(1024, ge=0)
    pad: int = Field(4, ge=0, le=64, description="random shift augmentation: pad and crop back, in pixels")
    color_jitter: float = Field(0.1, ge=0, le=1, description="brightness/contrast/channel gain, on device")
    mirror: bool = Field(
        False,
        description="half the frames as in the world mirrored in the camera's vertical plane: the image flipped "
        "left to right, the gripper's pose and command reflected (a fixed, level camera)",
    )
    commands: Literal["recorded", "planned"] = Field(
        "recorded",
        description="recorded: each frame's motor command ends where its episode's grasp closed (Levine's v = p_T - "
        "p_t); planned (envs with the height hack): at the pose the gripper had at the step the CEM servo plans the "
        "grasp for from that frame. A grasp that closed an action late (a finger on an object) then counts against "
        "the pose it was aimed at, not the one it closed at after one more move, 6 cm lower",
    )


class TrainConfig(RunConfig):
    """`policies/grasp_cnn.toml`."""

    kind: Literal["grasp_cnn"] = Field("grasp_cnn", description="which training loop reads this file")
    model: dict[str, Any] = Field(default_factory=dict, description="GraspCNNConfig fields; image_size from the store")
    data: DataConfig = Field(default_factory=DataConfig)
    out: str = "out/grasp_cnn"


# What must be equal for a resumed run to continue the same sequence of batches and updates.
RESUME_KEYS = ("model", "data", "optim", "seed", "precision")


def model_config(cfg: TrainConfig, image_size: int, source: str, manifests: dict[str, dict | None],
                 stores: Sequence[EpisodeStore] = ()) -> GraspCNNConfig:  # fmt: skip
    """The run's GraspCNNConfig; `manifests`: each dataset's campaign.json (None where it has none); `stores`: the
    training stores, whose depth frames give `depth_input` its normalization where the config sets none."""
    fields = dict(cfg.model)
    size = fields.pop("image_size", image_size)
    base = GraspCNNConfig.for_size(size) if isinstance(size, int) else GraspCNNConfig()
    mcfg = validate(GraspCNNConfig, {**base.model_dump(), "image_size": size, **fields}, source=f"{source} [model]")
    if mcfg.readout == "spatial" and cfg.data.pad:
        raise ConfigError(f"{source}: data.pad = {cfg.data.pad} with the spatial readout; random shifts would move the "
                          "image against the camera projection the readout relies on: set data.pad = 0")  # fmt: skip
    if mcfg.readout == "spatial" and mcfg.camera is None:
        mcfg = mcfg.model_copy(update={"camera": dataset_camera(manifests)})
    if mcfg.depth_input and (mcfg.depth_center is None or mcfg.depth_scale is None):
        center, scale = depth_statistics(stores)
        given = {k: v for k in ("depth_center", "depth_scale") if (v := getattr(mcfg, k)) is not None}
        mcfg = mcfg.model_copy(update={"depth_center": center, "depth_scale": scale, **given})
    return mcfg


def depth_statistics(stores: Sequence[EpisodeStore], frames: int = 2048) -> tuple[float, float]:
    """Mean and standard deviation (m) of the depth images of the first `frames` committed frames of each store."""
    for s in stores:
        if "depth" not in s.frame_features:
            raise ConfigError(f"{s.source}: model.depth_input = true, and this store has no depth images; collect "
                              "with [camera] depth = true in the env TOML")  # fmt: skip
    d = np.concatenate([np.asarray(s.frames("depth", frames), np.float32).ravel() for s in stores])
    return float(d.mean()), float(max(d.std(), 1e-3))


def dataset_camera(manifests: dict[str, dict | None]) -> tuple[float, ...]:
    """The world-to-clip matrix of the one fixed camera that rendered every dataset (url: its campaign.json)."""
    from robolearn.sim.camera import CameraConfig, fixed_clip_matrix

    found: dict[str, np.ndarray] = {}
    for url, manifest in manifests.items():
        if manifest is None:
            raise ConfigError(f"{url}: the spatial readout and data.mirror need the camera that rendered the images, "
                              "and this store has no campaign.json; set model.camera (16 numbers) or train on a "
                              "collected dataset")  # fmt: skip
        cam = CameraConfig(**manifest["env_config"]["camera"])
        found[url] = fixed_clip_matrix(cam)
        if found[url] is None:
            raise ConfigError(f"{url}: collected with a randomized camera (randomize {cam.randomize}); the spatial "
                              "readout and data.mirror need a fixed one")  # fmt: skip
    (first, m), *rest = found.items()
    for url, other in rest:
        if not np.allclose(m, other, atol=1e-6):
            raise ConfigError(
                f"{url}: rendered by another camera than {first}; the spatial readout and data.mirror need one camera"
            )
    return tuple(float(v) for v in m.ravel())


def dataset_task(manifests: dict[str, dict | None]):
    """The task settings (TaskConfig) under which every dataset was collected (url: its campaign.json), for
    data.commands = planned: the height hack, and one descent for all."""
    from robolearn.envs.config import TaskConfig

    found = {}
    for url, manifest in manifests.items():
        if manifest is None:
            raise ConfigError(f"{url}: data.commands = planned needs the task the data was collected in, and this "
                              "store has no campaign.json; use commands = recorded")  # fmt: skip
        task = TaskConfig(**manifest["env_config"]["task"])
        if not task.height_hack:
            raise ConfigError(f"{url}: collected without the height hack; data.commands = planned is for envs whose "
                              "gripper descends on its own (KukaDiverse-v0); use commands = recorded")  # fmt: skip
        found[url] = task
    (first, task), *rest = found.items()
    keys = ("max_steps", "dv", "grasp_height", "workspace_low")
    for url, other in rest:
        if any(getattr(task, k) != getattr(other, k) for k in keys):
            raise ConfigError(f"{url}: collected with another descent ({', '.join(keys)}) than {first}; "
                              "data.commands = planned needs one")  # fmt: skip
    return task


def evaluate(model: torch.nn.Module, selections, device, batch_size: int = 256,
             extra: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """Loss, accuracy, ROC AUC and calibration over every frame of the validation episodes."""
    model.eval()
    logits, labels = [], []
    with torch.no_grad():
        for batch in iterate_all(selections, batch_size, ("rgb", "motor_command", *extra)):
            out, _ = model({k: v.to(device) for k, v in batch.items() if k != "success"})
            logits.append(out.float().cpu().numpy())
            labels.append(batch["success"].numpy())
    model.train()
    if not logits:
        return {"loss": None, "accuracy": None, "auc": None, "ece": None, "positive_rate": None, "frames": 0}
    return binary_report(np.concatenate(logits), np.concatenate(labels))


def grasp_data(cfg: TrainConfig, source: str, acc) -> dict[str, Any]:
    """The run's stores checked, its model config, and its train and validation selections with the keys each
    reads (validation scores grasps alone: no segmentation masks)."""
    if not cfg.data.stores:
        raise ConfigError(f"{source}: no training data: set data.stores or pass --store")
    stores = [s for d in cfg.data.stores for s in dataset_stores(d)]
    val_stores = [s for d in cfg.data.val_stores for s in dataset_stores(d)]
    check_store(stores[0])  # its image size is the model's default
    manifests = {d: campaign_manifest(d) for d in [*cfg.data.stores, *cfg.data.val_stores]}
    mcfg = model_config(cfg, stores[0].frame_features["rgb"].shape[0], source, manifests, stores)
    extra = ("state",) * mcfg.state_input + ("depth",) * mcfg.depth_input
    if mcfg.aux_segmentation:
        for s in stores:
            if "segmentation" not in s.frame_features:
                raise ConfigError(f"{s.source}: model.aux_segmentation = {mcfg.aux_segmentation}, and this store has "
                                  "no segmentation masks; collect with [camera] segmentation = true in the env TOML")  # fmt: skip
        extra += ("segmentation",)  # training reads the masks; validation scores grasps alone
    val_extra = tuple(k for k in extra if k != "segmentation")
    mirror_camera = (mcfg.camera or dataset_camera(manifests)) if cfg.data.mirror else None
    if mirror_camera is not None:
        if cfg.data.pad:
            raise ConfigError(f"{source}: data.mirror with data.pad = {cfg.data.pad}: a shifted image is no longer "
                              "the camera's, and its mirror would not be the mirror world's; set data.pad = 0")  # fmt: skip
        mirror_plane(mirror_camera, f"{source}: data.mirror")
    for s in [*stores, *val_stores]:
        check_store(s, mcfg.image_size, val_extra)
    train_sel = select(stores, holdout=0 if val_stores else cfg.data.holdout, split_seed=cfg.data.split_seed,
                       part="train", exclude_objects=TEST_IDS)  # fmt: skip
    val_sel = select(val_stores, holdout=0, split_seed=0, part="all") if val_stores else select(
        stores, holdout=cfg.data.holdout, split_seed=cfg.data.split_seed, part="holdout")  # fmt: skip
    if cfg.data.commands == "planned":
        task = dataset_task(manifests)
        for s in [*stores, *val_stores]:
            if "state" not in s.frame_features:
                raise ConfigError(f"{s.source}: data.commands = planned reads the gripper's poses from the frames' "
                                  "state, and this store has none")  # fmt: skip
        planned = {s.source: {"motor_command": planned_commands(s, task)} for s in [*stores, *val_stores]}
        train_sel, val_sel = ([dataclasses.replace(s, frames=planned[s.source]) for s in part]
                              for part in (train_sel, val_sel))  # fmt: skip
    frames = sum(s.n_frames for s in train_sel)
    if not sum(s.n_frames for s in val_sel) and acc.is_main_process:
        print(f"warning: no validation episodes (holdout {cfg.data.holdout} of {sum(len(s.chosen) for s in val_sel)} "
              "episodes chose none); validation metrics will be empty", file=sys.stderr)  # fmt: skip
    # the renderers that drew the training images (from the datasets' campaign.json): the servo refuses another
    renderers = sorted({m["env_config"]["renderer"] for d in cfg.data.stores if (m := manifests[d])})
    return {"model": mcfg, "train": train_sel, "val": val_sel, "keys": ("rgb", "motor_command", *extra),
            "val_extra": val_extra, "mirror_camera": mirror_camera, "frames": frames, "renderers": renderers,
            "val_source": "val_stores" if val_stores else f"holdout {cfg.data.holdout} of training episodes"}  # fmt: skip


def train(cfg: TrainConfig, *, resume: bool = False, source: str = "config", progress: bool = True) -> dict[str, Any]:
    """Run training as `cfg` says; returns the summary also written to `<out>/summary.json`."""
    from accelerate.utils import set_seed

    acc = accelerator(device=cfg.device, precision=cfg.precision, deterministic=cfg.deterministic)
    out, prior = run_folder(cfg.out, resume=resume)
    ckdir = out / "checkpoints"

    # -- data ---------------------------------------------------------------------------------
    data = grasp_data(cfg, source, acc)
    mcfg, val_sel, mirror_camera = data["model"], data["val"], data["mirror_camera"]
    channel_bytes = 3 + 2 * mcfg.depth_input + bool(mcfg.aux_segmentation)  # rgb, depth float16, segmentation
    frame_bytes = channel_bytes * mcfg.image_size**2 + 24
    in_memory = cfg.data.in_memory == "yes" or (
        cfg.data.in_memory == "auto" and data["frames"] * frame_bytes <= cfg.data.memory_limit_mb * 2**20
    )
    loader = StreamingLoader(data["train"], keys=data["keys"], batch_size=cfg.data.batch_size,
                             buffer_frames=cfg.data.buffer_frames, workers=cfg.data.workers, seed=cfg.seed,
                             pad=cfg.data.pad, rank=acc.process_index, world=acc.num_processes,
                             in_memory=in_memory)  # fmt: skip
    if not in_memory and loader.workers < cfg.data.workers and acc.is_main_process:
        print(
            f"note: data.workers = {cfg.data.workers}, but the training set is read in {len(loader.units)} parts, "
            f"enough to give only {loader.workers} workers a batch each epoch; using {loader.workers}",
            file=sys.stderr,
        )


    # -- model, optimizer, resume ---------------------------------------------------------------
    set_seed(cfg.seed)
    model = GraspCNN(mcfg)
    if cfg.init_from and prior is None:  # a resumed run starts from its own checkpoint
        warm_start(model, cfg.init_from, model_name="GraspCNN", config=mcfg)
    opt = adamw(model, cfg.optim)
    threads = set_threads(cfg.threads, prior)
    run_meta = {"train": cfg.model_dump(), "processes": acc.num_processes, "loader_streams": loader.streams,
                "in_memory": in_memory, "renderers": data["renderers"], "threads": threads}  # fmt: skip
    start = resume_from(prior, model, model_name="GraspCNN", train_cls=TrainConfig, run_meta=run_meta,
                        train_keys=RESUME_KEYS, meta_keys=("processes", "loader_streams", "in_memory"))  # fmt: skip
    model, opt = acc.prepare(model, opt)
    resume_optimizer(prior, opt)
    raw = acc.unwrap_model(model)
    log = Log(out, config=cfg.model_dump(), start=start, steps=cfg.steps, main=acc.is_main_process,
              progress=progress)  # fmt: skip
    best = Best(out / "best", "auc", resume=resume)

    def validate_now(step: int) -> dict[str, Any]:
        report = evaluate(raw, val_sel, acc.device, extra=data["val_extra"])
        if acc.is_main_process:  # early stopping by validation AUC: out/best is the best model so far
            best.offer(report, model=raw, model_name="GraspCNN", config=mcfg.model_dump(), step=step, extra=run_meta)
        log.scalars(step, "val", {k: report.get(k) for k in ("loss", "accuracy", "auc", "ece")})
        log.metrics(step, report)
        return report

    # -- the loop -------------------------------------------------------------------------------
    t0 = time.perf_counter()
    wait = compute = 0.0
    report: dict[str, Any] = {}
    running, n_running = {}, 0  # each loss summed on the device: no sync per step
    batches = loader.batches(start)
    t_fetch = time.perf_counter()
    for step in range(start, cfg.steps):
        batch = next(batches)
        t_step = time.perf_counter()
        if step == start:  # worker processes starting and buffers filling: not throughput
            startup, t0 = t_step - t0, t_step
        else:
            wait += t_step - t_fetch
        set_lr(opt, learning_rate(step, cfg.steps, cfg.optim))
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * max(1, acc.num_processes) + acc.process_index)
        rgb = batch["rgb"].to(acc.device)
        if "shift" in batch:
            rgb = random_shift(rgb, cfg.data.pad, batch["shift"])
        rgb = color_jitter(rgb, cfg.data.color_jitter, gen)
        inputs = {"rgb": rgb, **{k: v.to(acc.device) for k, v in batch.items() if k not in ("rgb", "shift")}}
        if "shift" in batch and "depth" in inputs:  # the same shift as the image's
            inputs["depth"] = random_shift(inputs["depth"][..., None], cfg.data.pad, batch["shift"])[..., 0]
        if mirror_camera is not None:
            inputs = mirror(inputs, mirror_camera, torch.rand(len(rgb), generator=gen) < 0.5)
        with acc.autocast():
            _, losses = model(inputs)
        loss = sum(losses.values())
        acc.backward(loss)
        if cfg.optim.grad_clip:
            acc.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        for k, v in losses.items():
            running[k] = running.get(k, 0) + v.detach()
        n_running += 1
        t_fetch = time.perf_counter()
        compute += t_fetch - t_step
        done = step + 1
        log.bar.update(1)
        if done % cfg.log_every == 0 and acc.is_main_process:
            means = {k: float(v) / n_running for k, v in running.items()}
            mean_loss = sum(means.values())
            log.scalars(done, "train", {"loss": mean_loss, **(means if len(means) > 1 else {}),
                                        "lr": learning_rate(step, cfg.steps, cfg.optim)})  # fmt: skip
            log.bar.set_postfix(loss=f"{mean_loss:.3f}", auc=report.get("auc"))
            running, n_running = {}, 0
        if done % cfg.eval_every == 0 or done == cfg.steps:
            report = validate_now(done)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            save_checkpoint(acc, step_dir(ckdir, done), model=raw, model_name="GraspCNN", config=mcfg.model_dump(),
                            step=done, optimizer=opt.optimizer, extra=run_meta)  # fmt: skip
    seconds = time.perf_counter() - t0
    steps_run = cfg.steps - start
    if not report:
        report = validate_now(cfg.steps)
    summary = {
        "out": str(out),
        "checkpoint": str(step_dir(ckdir, cfg.steps)),
        "best_checkpoint": str(best.path) if best.value is not None else None,
        "best_val_auc": best.value,
        "steps": cfg.steps,
        "resumed_from": start,
        "device": str(acc.device),
        "processes": acc.num_processes,
        "precision": cfg.precision,
        "image_size": mcfg.image_size,
        "train_frames": data["frames"],
        "val_frames": report.get("frames"),
        "val_source": data["val_source"],
        "in_memory": in_memory,
        "threads": threads,
        "loader_startup_s": startup if steps_run else None,
        "samples_per_s": steps_run * cfg.data.batch_size * acc.num_processes / seconds if steps_run else None,
        "loader_wait_fraction": wait / (wait + compute) if steps_run else None,
        "val": report,
        "main_process": acc.is_main_process,
    }
    log.close(summary)
    acc.wait_for_everyone()
    acc.end_training()
    return summary


__all__ = ["DataConfig", "OptimConfig", "TrainConfig", "train"]
