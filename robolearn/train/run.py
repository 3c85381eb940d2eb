"""The shared training skeleton: plain functions that every training loop (grasp CNN now; TCN and RL next) calls.

    acc = accelerator(device=..., precision=..., deterministic=...)   # CPU / CUDA / TPU, bf16, DDP
    out, prior = run_folder(cfg.out, resume=resume)                    # refuses a run folder it would overwrite
    opt = adamw(model, cfg.optim)
    start = resume_from(prior, model, ...)                              # refuses a resume that would change the run
    model, opt = acc.prepare(model, opt); resume_optimizer(prior, opt)
    log = Log(out, start=start, steps=cfg.steps, main=acc.is_main_process)
    for step in range(start, cfg.steps):
        set_lr(opt, learning_rate(step, cfg.steps, cfg.optim))
        ...
        log.train(step + 1, losses); log.validation(step + 1, report)
        save_checkpoint(acc, step_dir(out / "checkpoints", step + 1), ...)
    log.close(summary)                                                  # summary.json

Everything a resume needs is in the checkpoint: the weights, the optimizer's state and the step; the learning rate
is a function of the step, and a loop's data order must be a function of (seed, step).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from robolearn.config import Config, ConfigError, validate
from robolearn.models import checkpoint


class OptimConfig(Config):
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_steps: int = Field(100, ge=0)
    min_lr_ratio: float = Field(0.05, ge=0, le=1, description="cosine decay ends at lr * min_lr_ratio")
    grad_clip: float = Field(1.0, ge=0, description="0: no clipping")


class StoresConfig(Config):
    """The datasets a run trains and validates on; the [data] table of every training TOML starts with these."""

    stores: list[str] = Field(default_factory=list, description="training datasets (shard directories or stores)")
    val_stores: list[str] = Field(default_factory=list, description="validation datasets, e.g. on test objects")
    holdout: float = Field(0.1, ge=0, lt=1, description="without val_stores: fraction of episodes held out")
    split_seed: int = Field(0, ge=0)


class RunConfig(Config):
    """What every training TOML sets besides its model and data: the optimizer, the run's length and cadence, the
    device and precision, the seed, the run folder and a warm start."""

    optim: OptimConfig = Field(default_factory=OptimConfig)
    steps: int = Field(2000, ge=1)
    threads: int = Field(0, ge=0, description="torch threads of the training process; 0: OMP_NUM_THREADS where set, "
                         "else the cores free when it starts (a resume keeps its run's; docs/BENCHMARKS.md)")  # fmt: skip
    eval_every: int = Field(250, ge=1)
    checkpoint_every: int = Field(250, ge=1)
    log_every: int = Field(25, ge=1)
    precision: Literal["no", "bf16", "fp16"] = "no"
    device: Literal["auto", "cpu"] = Field("auto", description="auto: accelerate picks CUDA/TPU when present")
    seed: int = Field(0, ge=0)
    deterministic: bool = Field(
        False,
        description="deterministic CUDA kernels: a resumed run then ends with the same weights as an "
        "uninterrupted one on a GPU too, as it does on CPU",
    )
    out: str = "out/run"
    init_from: str | None = Field(None, description="warm start: a checkpoint of the same model whose weights start "
                                  "the run")  # fmt: skip


def free_cores(window: float = 0.25) -> float:
    """How many of the cores this process may use are free now: the share of CPU time the whole machine left idle
    over `window` seconds (/proc/stat), times those cores; where there is no /proc/stat, the cores less the 1-minute
    load average."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]  # all time (guest time is inside user), idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(window)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        return max(0.0, cores - load)
    return cores * (idle1 - idle0) / max(total1 - total0, 1)


def set_threads(setting: int, prior: Path | None = None) -> int:
    """Set and return torch's thread count for a training process: `setting`; for 0, OMP_NUM_THREADS where the
    environment sets it, else the count the run at `prior` (a checkpoint it resumes) used, else the cores free now
    (at least 1). torch's threads wait for each other spinning, so a thread on a core that another program keeps busy
    slows every step; on an idle machine every core helps (docs/BENCHMARKS.md, "Training threads"). Results differ in
    the last bits between thread counts: set `threads` for runs that must match bit for bit."""
    recorded = checkpoint.read_config(prior).get("threads") if prior is not None and not setting else None
    if setting:
        n = setting
    elif os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        n = int(os.environ["OMP_NUM_THREADS"])
    elif recorded:
        n = int(recorded)  # a resume keeps the run's count: the same arithmetic
    else:
        n = max(1, math.floor(free_cores() + 0.5))
    torch.set_num_threads(n)
    return n


def accelerator(*, device: str = "auto", precision: str = "no", deterministic: bool = False):
    """An accelerate Accelerator: CUDA or TPU (torch_xla) when present and `device` is 'auto', else the CPU;
    mixed `precision` (no, bf16, fp16); data-parallel under torchrun or `accelerate launch`. `deterministic`:
    deterministic CUDA kernels, so a resumed GPU run ends as an uninterrupted one does (as on CPU)."""
    from accelerate import Accelerator
    from accelerate.utils import is_torch_xla_available

    # accelerate runs data-parallel CPU processes (gloo) only when told the run is on CPU
    on_cpu = device == "cpu" or not (torch.cuda.is_available() or is_torch_xla_available())
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # processes on this machine, under torchrun
    if not on_cpu and torch.cuda.is_available() and local > torch.cuda.device_count():
        raise ConfigError(f"{local} processes on this machine but {torch.cuda.device_count()} CUDA device(s): start "
                          f"at most one process per GPU (--nproc_per_node), or set device = \"cpu\"")  # fmt: skip
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts, on the first matmul
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    return Accelerator(cpu=on_cpu, mixed_precision=precision)


def run_folder(out: str | Path, *, resume: bool) -> tuple[Path, Path | None]:
    """The run folder and its latest checkpoint (None for a new run); refuses a file, or a folder that holds a run
    when `resume` is not set (its checkpoints would be overwritten)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder for the run")
    prior = checkpoint.latest(out / "checkpoints")
    if prior is not None and not resume:
        raise ConfigError(f"--out {out}: already holds a run (checkpoint {prior.name}); pass --resume to continue "
                          "it or choose another --out")  # fmt: skip
    return out, prior


def learning_rate(step: int, steps: int, optim: OptimConfig) -> float:
    """Linear warm-up, then cosine decay to lr * min_lr_ratio at the last of `steps`."""
    o = optim
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    t = (step - o.warmup_steps) / max(1, steps - o.warmup_steps)
    return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def adamw(model: torch.nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on the weight matrices and kernels only (not on biases and norms)."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    rest = [p for n, p in model.named_parameters() if p.ndim <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": optim.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=optim.lr)  # fmt: skip


def warm_start(model: torch.nn.Module, path: str, *, model_name: str, config: Config) -> None:
    """Load the weights of the checkpoint at `path` into `model`, refusing another model kind or config."""
    init = checkpoint.read_config(path)
    # a checkpoint from before a config field existed holds its default: compare them filled in
    same = init["model"] == model_name and validate(type(config), init["config"], source=str(path)) == config
    if not same:
        raise checkpoint.CheckpointError(f"init_from {path}: a {init['model']} with another config than this run's "
                                         "model; warm start needs the same architecture")  # fmt: skip
    checkpoint.load_weights(model, Path(path))


def resume_from(prior: Path | None, model: torch.nn.Module, *, model_name: str, train_cls: type[Config],
                run_meta: dict[str, Any], train_keys: tuple[str, ...], meta_keys: tuple[str, ...]) -> int:  # fmt: skip
    """The step to start from: 0 without a checkpoint; else the checkpoint's, after loading its weights, once its
    run is shown to be the same: the `train_keys` of its training config (read as `train_cls`, so fields added since
    hold their defaults) and its `meta_keys` equal `run_meta`'s. The optimizer's state comes after the accelerator
    has placed the model (`resume_optimizer`)."""
    if prior is None:
        return 0
    meta = checkpoint.read_config(prior)
    if meta["model"] != model_name or "train" not in meta:
        raise checkpoint.CheckpointError(f"{prior}: holds a {meta['model']} model, not a {model_name} training run")
    before = validate(train_cls, meta["train"], source=str(prior)).model_dump()
    for key in train_keys:
        if before[key] != run_meta["train"][key]:
            raise ConfigError(f"--resume: '{key}' differs from the checkpoint's ({prior}); the run would not "
                              "continue the same training")  # fmt: skip
    for key in meta_keys:
        if meta[key] != run_meta[key]:
            raise ConfigError(f"--resume: {key} {run_meta[key]} now, {meta[key]} in {prior}: the batches would "
                              "differ from the interrupted run's")  # fmt: skip
    checkpoint.load_weights(model, prior)
    return int(meta["step"])


def resume_optimizer(prior: Path | None, optimizer) -> None:
    """Load the checkpoint's optimizer state into `optimizer` as `acc.prepare` returned it: after the model is on
    its device, whose parameters the state must be keyed by (on XLA, moving a model makes new parameter objects)."""
    if prior is not None:
        checkpoint.load_optimizer(getattr(optimizer, "optimizer", optimizer), prior)


def save_checkpoint(acc, path: Path, *, model: torch.nn.Module, model_name: str, config: dict[str, Any], step: int,
                    optimizer: torch.optim.Optimizer | None = None, extra: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Every process waits; the main one writes the checkpoint (robolearn.models.checkpoint.save)."""
    acc.wait_for_everyone()
    if acc.is_main_process:
        checkpoint.save(path, model=model, model_name=model_name, model_config=config, step=step,
                        optimizer=optimizer, extra=extra)  # fmt: skip


class Best:
    """The best checkpoint so far by a validation metric (higher is better, or lower with `higher=False`), kept at
    `path`: read back on resume."""

    def __init__(self, path: Path, metric: str, *, resume: bool, higher: bool = True) -> None:
        self.path, self.metric, self.higher = path, metric, higher
        done = resume and (path / "config.json").is_file()
        self.value = checkpoint.read_config(path)["val"][metric] if done else None

    def offer(self, report: dict[str, Any], *, model: torch.nn.Module, model_name: str, config: dict[str, Any],
              step: int, extra: dict[str, Any]) -> bool:  # fmt: skip
        """Write `model` as the best checkpoint (its config.json holding `extra` and the report as "val") when
        `report` beats the best so far; whether it did. The main process alone calls it (a save that waited for
        the other processes would wait forever)."""
        value = report.get(self.metric)
        if value is None or (self.value is not None and (value <= self.value if self.higher else value >= self.value)):
            return False
        self.value = value
        checkpoint.save(self.path, model=model, model_name=model_name, model_config=config, step=step,
                        extra={**extra, "val": report})  # fmt: skip
        return True


class Log:
    """TensorBoard scalars, metrics.jsonl (validation reports) and a progress bar; written by the main process only.
    `out/train_config.json` records the run's config."""

    def __init__(self, out: Path, *, config: dict[str, Any], start: int, steps: int, main: bool = True,
                 progress: bool = True, desc: str = "train") -> None:  # fmt: skip
        from tqdm import tqdm

        self.out, self.main, self.writer = out, main, None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            out.mkdir(parents=True, exist_ok=True)
            (out / "train_config.json").write_text(json.dumps(config, indent=2))
            self.writer = SummaryWriter(str(out / "tb"), purge_step=start)
        self.bar = tqdm(total=steps, initial=start, desc=desc, unit="step", disable=not (progress and main),
                        dynamic_ncols=True)  # fmt: skip

    def scalars(self, step: int, prefix: str, values: dict[str, Any]) -> None:
        if self.writer:
            for k, v in values.items():
                if v is not None:
                    self.writer.add_scalar(f"{prefix}/{k}", v, step)

    def metrics(self, step: int, report: dict[str, Any]) -> None:
        """A validation report: one line of metrics.jsonl."""
        if self.main:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps({"step": step, **report}) + "\n")

    def close(self, summary: dict[str, Any]) -> None:
        """Close the bar and the writer; write summary.json."""
        self.bar.close()
        if self.writer:
            self.writer.close()
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
