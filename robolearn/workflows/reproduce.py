"""From nothing to a grasp-success table and a learning curve, in one command (Levine 2016, QT-Opt style).

    round 0: collect with the scripted oracle mixed with random actions (epsilon) on training objects
             -> train the grasp CNN -> evaluate the CEM servo over it on held-out objects
    round r: collect with the previous round's CEM servo (epsilon exploration) -> add to the data -> train
             --ensemble models on all of it from scratch (seeds 0, 1, ..., two at a time) -> evaluate the first
             alone, and the servo over their mean score, which searches --samples commands an iteration and
             collects round r + 1
    end:     one `robolearn eval` run of random, open-loop, the last round's CEM servo and oracle side by side

The defaults are the recipe of the KukaDiverse-v0 figures in docs/RESULTS.md (2026-12-06, session 27): 16,000
oracle-mix attempts with segmentation masks, a round of 8,000 grasps of round 0's model, a round of 8,000 of the
six-model servo trained on those 24,000, six models of policies/grasp_cnn_recipe.toml (auxiliary mask loss, mirror
world, planned commands; 5,000 steps) on all 32,000, 256 CEM samples with 16 elites, no re-planning for the last 4
actions (--commit-steps): 91.7% of 2,000 held-out scenes there. At --scale 1, timed from an empty folder on this
2-core machine: 4.8 hours (collection 177 min, training 86, evaluation 26; the servo 91.4% of 500 held-out scenes;
docs/results/kuka_diverse_reproduce_2026-12-06).

`robolearn reproduce` runs it (`robolearn reproduce --help`); `run(ReproduceConfig(...))` from Python. Writes into
--out: data/round-<r>/ (datasets), cnn/round-<r>/ and cnn/round-<r>-member-<k>/ (training runs), eval/ (the
final comparison: report.json, comparison.md, success.png), learning_curve.png/.json, summary.json, timing.json;
prints the time it took. `--scale` multiplies every episode and step count. A rerun continues where it stopped, and
the time it prints adds up every invocation's (timing.json has each part's minutes).

    robolearn reproduce --scale 0.02 --ensemble 2 --eval-episodes 20   # minutes: a smoke run
    robolearn reproduce                                                 # hours on 2 cores
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

import robolearn
from robolearn.collection.campaign import CampaignConfig, prepare, run_local
from robolearn.config import Config, ConfigError, load_toml
from robolearn.envs import load_env_config
from robolearn.evaluation.compare import JOURNAL, eval_report, evaluate_policies, write_eval_folder, write_videos
from robolearn.evaluation.rollout import rollout_parallel, wilson_interval
from robolearn.policies.registry import PolicyConfig, policy_toml
from robolearn.signals import interrupted

if TYPE_CHECKING:  # training imports torch: loaded where the recipe trains, not when the CLI reads this module
    from robolearn.train.grasp import TrainConfig

ROOT = Path(robolearn.__file__).resolve().parents[1]  # the repository: its policies/ folder holds the recipes
# The grasp CNN's training TOML. recipe: the KukaDiverse-v0 figures' (spatial readout, aux mask loss, mirror world,
# planned commands); spatial: the spatial readout alone; levine: Levine et al.'s network (the command merged midway).
MODELS = {"recipe": ROOT / "policies" / "grasp_cnn_recipe.toml", "spatial": ROOT / "policies" / "grasp_cnn_spatial.toml",
          "levine": ROOT / "policies" / "grasp_cnn.toml"}  # fmt: skip
EVAL_SEED = 1_000_000  # the held-out scenes of every evaluation: seeds EVAL_SEED, EVAL_SEED + 1, ...


class ReproduceConfig(Config):
    """The recipe's knobs (`robolearn reproduce --help`); the defaults are the recipe behind the KukaDiverse-v0
    figures."""

    env: str = Field("robolearn/KukaDiverse-v0", description="registered env id or env TOML")
    model: str = Field("recipe", description="the grasp CNN's training TOML: recipe (policies/grasp_cnn_recipe.toml), "
                       "spatial (policies/grasp_cnn_spatial.toml), levine (Levine 2016, policies/grasp_cnn.toml) "
                       "or a TOML file")  # fmt: skip
    scale: float = Field(1.0, gt=0, description="multiplies every episode and step count")
    first: int = Field(16000, ge=1, description="round 0's oracle-mix episodes (before scale)")
    per_round: int = Field(8000, ge=1, description="each later round's servo episodes (before scale)")
    rounds: int = Field(2, ge=0, description="self-improvement rounds after round 0")
    ensemble: int = Field(6, ge=1, description="models each servo after round 0 averages (1: the round's model alone)")
    samples: int = Field(256, ge=2, description="CEM samples an iteration (Levine: 64)")
    elites: int = Field(16, ge=1, description="CEM elites an iteration (Levine: 6)")
    workers: int = Field(2, ge=1, description="collection, evaluation and training processes")
    epsilon: float = Field(0.5, ge=0, le=1, description="round 0: oracle actions replaced by random ones")
    explore: float = Field(0.1, ge=0, le=1, description="rounds >= 1: CEM actions replaced by random ones")
    descend: Literal["planned", "full_speed"] = Field(
        "planned", description="the servo's descent without the height hack: planned (Levine) or full_speed (down to "
        "the grasp height at once; use it on GraspPanda-v0, see policies/cem_panda.toml)")  # fmt: skip
    commit_steps: int = Field(
        4, ge=0, description="the servo stops re-planning for the last K actions before the grasp and goes to its "
        "last plan (0: re-plan at every step, Levine). 4: +2.5 points for the six-model servo on KukaDiverse-v0 "
        "(docs/RESULTS.md, 2026-12-06); 3 on GraspPanda-v0 (policies/cem_panda.toml)")  # fmt: skip
    eval_episodes: int = Field(500, ge=1, description="held-out scenes of each evaluation")
    out: str = Field("out/reproduce", description="output folder; a rerun continues there")

    @model_validator(mode="after")
    def _samples_hold_the_elites(self) -> ReproduceConfig:
        if self.samples < self.elites:
            raise ValueError(f"samples ({self.samples}) must be at least elites ({self.elites})")
        return self


class Clock:
    """The minutes each part of the run took, summed over the invocations that worked on it (a rerun continues where
    the last stopped), in timing.json. It is rewritten every `every` seconds, so a killed run loses at most that
    much of its count; `total` is the invocations' whole time, start-up and the work between parts included."""

    def __init__(self, path: Path, every: float = 30.0):
        self.path, self.every, self.start, self.part_start = path, every, time.perf_counter(), None
        saved = json.loads(path.read_text()) if path.exists() else {}
        self.saved_total, self.parts = saved.get("total_s", 0.0), saved.get("parts_s", {})
        self.invocations = saved.get("invocations", 0) + 1
        self.lock, self.name, self.stopped = threading.RLock(), None, threading.Event()
        self.keeper = threading.Thread(target=self._keep, daemon=True)
        self.keeper.start()

    def snapshot(self) -> dict:
        with self.lock:
            now, parts = time.perf_counter(), dict(self.parts)
            if self.name is not None:
                parts[self.name] = parts.get(self.name, 0.0) + now - self.part_start
            return {"total_s": self.saved_total + now - self.start, "parts_s": parts, "invocations": self.invocations}

    def save(self) -> dict:
        with self.lock:  # held across snapshot and write: the keeper and the main thread take turns, later last
            snap = self.snapshot()
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(snap, indent=2))
            tmp.replace(self.path)
            return snap

    def _keep(self) -> None:
        while not self.stopped.wait(self.every):
            self.save()

    def close(self) -> dict:
        self.stopped.set()
        self.keeper.join()  # its last write lands before this one
        return self.save()

    @contextmanager
    def part(self, name: str):
        with self.lock:
            self.name, self.part_start = name, time.perf_counter()
        try:
            yield
        finally:
            with self.lock:
                self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - self.part_start
                self.name = None
            self.save()


def recipe(cfg: ReproduceConfig) -> TrainConfig:
    """The training TOML, its steps scaled; planned commands only where the env has the height hack."""
    from robolearn.train.grasp import TrainConfig

    path = MODELS.get(cfg.model, Path(cfg.model))
    if not path.is_file():
        raise ConfigError(f"model '{cfg.model}': neither {', '.join(MODELS)} nor a training TOML file")
    base = load_toml(path, TrainConfig)
    commands = base.data.commands if load_env_config(cfg.env).task.height_hack else "recorded"
    return base.model_copy(update={"steps": max(int(base.steps * cfg.scale), 1),
                                   "data": base.data.model_copy(update={"commands": commands})})  # fmt: skip


def servo(cfg: ReproduceConfig, checkpoints: list[str], name: str = "cem") -> PolicyConfig:
    """The servo over `checkpoints` (their mean score), with this run's search and descent; it scores in the mirror
    world too where the models were trained with it (PolicyConfig.mirror_average unset)."""
    return PolicyConfig(name=name, checkpoint=checkpoints[0], ensemble=checkpoints[1:],
                        cem={"samples": cfg.samples, "elites": cfg.elites, "descend": cfg.descend,
                             "commit_steps": cfg.commit_steps})  # fmt: skip


def collect(cfg: ReproduceConfig, tcfg: TrainConfig, r: int, episodes: int, checkpoints: list[str]) -> str:
    """Round `r`'s episodes: the oracle mix (round 0), else the servo over `checkpoints` (the previous round's)."""
    if checkpoints:
        policy = servo(cfg, checkpoints).model_copy(update={"epsilon": cfg.explore, "down_bias": 0.5})
    else:
        policy = PolicyConfig(name="oracle", epsilon=cfg.epsilon, down_bias=0.5)
    campaign = CampaignConfig(env=cfg.env, objects="train", policy=policy, episodes=episodes, workers=cfg.workers,
                              seed=100 + r, store=str(Path(cfg.out) / "data" / f"round-{r}"))  # fmt: skip
    masks = {"camera": {"segmentation": True}} if tcfg.model.get("aux_segmentation", 0) > 0 else {}
    env_config = load_env_config(campaign.env, objects={"split": campaign.objects}, **masks).model_dump(mode="json")
    todo = prepare(campaign, env_config, resume=True)  # a rerun continues where it stopped
    summary = run_local(campaign, env_config, todo) if todo else {"collected": 0, "success_rate": None}
    print(f"round {r}: collected {summary['collected']} episodes ({policy.name}), success {summary['success_rate']}")
    return campaign.store


def member(cfg: ReproduceConfig, tcfg: TrainConfig, stores: list[str], name: str, seed: int) -> TrainConfig:
    return tcfg.model_copy(update={"seed": seed, "out": str(Path(cfg.out) / "cnn" / name),
                                   "data": tcfg.data.model_copy(update={"stores": stores})})  # fmt: skip


def finished_checkpoint(folder: str | Path, steps: int, keys: tuple[str, ...] = ("checkpoint",)) -> str | None:
    """A finished run's checkpoint named by its summary.json (the first of `keys` it gives: checkpoint,
    best_checkpoint), re-rooted at `folder`: the summary writes paths as the run saw them, from the directory it was
    started in, and the folder may be read from another directory or have moved since. None if the run has not done
    `steps`, or names none of them."""
    path = Path(folder) / "summary.json"
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    value = next((summary[k] for k in keys if summary.get(k) is not None), None)
    if summary["steps"] < steps or value is None:
        return None
    try:
        return str(Path(folder) / Path(value).relative_to(summary["out"]))
    except ValueError:  # not under the run's folder: as written
        return value


def trained(cfg: TrainConfig) -> str | None:
    """The checkpoint the servo uses of a finished run (its best by validation AUC, else its last), from the summary
    `train` writes when the run ends; None before then."""
    return finished_checkpoint(cfg.out, cfg.steps, ("best_checkpoint", "checkpoint"))


def fit(cfg: TrainConfig) -> str:
    from robolearn.train.grasp import train

    if not trained(cfg):
        summary = train(cfg, resume=True)
        print(f"{Path(cfg.out).name}: grasp CNN {cfg.steps} steps, best validation AUC {summary['best_val_auc']} "
              f"(early stopping: that model is used)")  # fmt: skip
    return trained(cfg)


def _train_alone(module: str, config_class: str, cfg_json: str) -> None:
    """A spawned process's training run: the config (of `config_class` in training module `module`) from its JSON, the
    module's `train`, one thread (OMP_NUM_THREADS also reaches the run's loader processes), continuing the run in
    its folder where one is."""
    import importlib

    from robolearn.signals import raise_on_sigterm

    os.environ["OMP_NUM_THREADS"] = "1"
    raise_on_sigterm()  # stopped by the parent: unwind, so what the run holds is released, and leave quietly
    loop = importlib.import_module(module)
    try:
        loop.train(getattr(loop, config_class).model_validate_json(cfg_json), resume=True, progress=False)
    except KeyboardInterrupt:
        sys.exit(130)


def run_parallel(cfgs: list, parallel: int, finished) -> None:
    """Train each of `cfgs` (training configs: grasp CNN, TCN or RL) not `finished` yet in a process of its own,
    `parallel` at a time (two runs of one thread each on two cores beat one run on both); SystemExit naming any that
    did not finish."""
    todo = [c for c in cfgs if not finished(c)]
    ctx = mp.get_context("spawn")
    for i in range(0, len(todo), parallel):
        group = todo[i : i + parallel]
        print(f"training {', '.join(Path(c.out).name for c in group)} ({group[0].steps} steps each)", flush=True)
        procs = [ctx.Process(target=_train_alone, args=(type(c).__module__, type(c).__name__, c.model_dump_json()))
                 for c in group]  # fmt: skip
        try:
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        except KeyboardInterrupt as exc:  # stopped (Ctrl-C, SIGTERM): stop the runs too
            for p in procs:
                p.terminate()
                p.join()
            raise interrupted("finished runs and the others' checkpoints are kept; the same command continues them",
                              exc) from None
    missing = [c.out for c in cfgs if not finished(c)]
    if missing:
        raise SystemExit(f"error: training failed for {', '.join(missing)} (a rerun continues them)")


def fit_parallel(cfgs: list[TrainConfig], parallel: int) -> list[str]:
    """Train the grasp CNNs of `cfgs`, `parallel` at a time, one thread each; their checkpoints."""
    run_parallel(cfgs, parallel, trained)
    return [trained(c) for c in cfgs]


def evaluate(cfg: ReproduceConfig, checkpoints: list[str]) -> dict:
    seeds = range(EVAL_SEED, EVAL_SEED + cfg.eval_episodes)
    report = rollout_parallel(cfg.env, "test", servo(cfg, checkpoints), seeds,
                              workers=cfg.workers, progress=True, desc="eval cem")  # fmt: skip
    return {"success": report.successes / report.n, "ci95": list(wilson_interval(report.successes, report.n)),
            "episodes": report.n}  # fmt: skip


def plot_curve(points: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    for together in (False, True):  # the rounds' single models as a line, an ensemble as a point of its own
        pts = [p for p in points if (p["models"] > 1) == together]
        if pts:
            ax.errorbar([p["attempts"] for p in pts], [p["success"] for p in pts], capsize=4,
                        yerr=[[p["success"] - p["ci95"][0] for p in pts], [p["ci95"][1] - p["success"] for p in pts]],
                        marker="s" if together else "o", linestyle="none" if together else "-",
                        label=f"{pts[0]['models']} models together" if together else "one model")  # fmt: skip
    ax.set_xticks(sorted({p["attempts"] for p in points}))  # the rounds, not a crowd of 5-digit ticks
    ax.set_xlabel("grasp attempts collected")
    ax.set_ylabel("CEM servo success, test objects")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def point(cfg: ReproduceConfig, r: int, attempts: int, checkpoints: list[str], done: list[dict], clock: Clock) -> dict:
    """A learning curve point: round `r`'s servo over `checkpoints` on the held-out objects. A rerun keeps a point
    in `done` (the curve so far) measured with the same servo on the same seeds."""
    policy, seeds = servo(cfg, checkpoints).model_dump(mode="json"), [EVAL_SEED, cfg.eval_episodes]
    p = next((q for q in done if q.get("servo") == policy and q.get("eval_seeds") == seeds), None)
    if p is None:
        with clock.part(f"evaluate round {r}, {len(checkpoints)} model(s)"):
            p = {"round": r, "attempts": attempts, "models": len(checkpoints), "checkpoints": checkpoints,
                 **evaluate(cfg, checkpoints), "servo": policy, "eval_seeds": seeds}  # fmt: skip
        p["minutes"] = clock.snapshot()["total_s"] / 60  # the run's time so far
    models = "1 model" if len(checkpoints) == 1 else f"{len(checkpoints)} models together"
    print(f"round {r}: {attempts} attempts, {models} -> CEM servo success {p['success']:.3f} "
          f"[{p['ci95'][0]:.3f}-{p['ci95'][1]:.3f}] on held-out objects", flush=True)  # fmt: skip
    return p


def comparison(cfg: ReproduceConfig, checkpoints: list[str]) -> dict[str, PolicyConfig]:
    """The policies of the final comparison: random, open loop, the last round's CEM servo and the oracle."""
    return {"random": PolicyConfig(name="random"), "open_loop": servo(cfg, checkpoints, "open_loop"),
            "cem": servo(cfg, checkpoints), "oracle": PolicyConfig(name="oracle")}  # fmt: skip


def compare(cfg: ReproduceConfig, configs: dict[str, PolicyConfig]) -> dict[str, Any]:
    """One evaluation of `configs` on the same held-out scenes, in this process; its report (also in <out>/eval)."""
    seeds, out = range(EVAL_SEED, EVAL_SEED + cfg.eval_episodes), Path(cfg.out) / "eval"
    results, _ = evaluate_policies(cfg.env, configs, seeds, objects="test", workers=cfg.workers,
                                   record={name: 2 for name in configs}, journal=out / JOURNAL, resume=True,
                                   on_frames=write_videos(out))  # fmt: skip
    report = eval_report(cfg.env, "test", seeds, results)
    write_eval_folder(out, report)
    return report


def run(cfg: ReproduceConfig) -> dict[str, Any]:
    """The whole recipe into `cfg.out`, continuing what an earlier invocation left; the summary (summary.json)."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder")
    tcfg = recipe(cfg)
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(out / "timing.json")
    first, per_round = max(int(cfg.first * cfg.scale), 1), max(int(cfg.per_round * cfg.scale), 1)
    curve_path = out / "learning_curve.json"
    done = json.loads(curve_path.read_text()) if curve_path.exists() else []

    def keep(curve: list[dict]) -> None:  # the curve so far, and the points of an earlier invocation not reached yet
        curve_path.write_text(json.dumps(curve + [q for q in done if q not in curve], indent=2))

    stores, attempts, curve, checkpoints = [], 0, [], []
    for r in range(cfg.rounds + 1):
        with clock.part(f"collect round {r}"):
            stores.append(collect(cfg, tcfg, r, first if r == 0 else per_round, checkpoints))
        attempts += first if r == 0 else per_round
        together = cfg.ensemble if r > 0 or cfg.rounds == 0 else 1  # round 0's model alone collects round 1
        cfgs = [member(cfg, tcfg, list(stores), f"round-{r}-member-{k}" if k else f"round-{r}", tcfg.seed + k)
                for k in range(together)]  # fmt: skip
        with clock.part(f"train round {r}"):
            checkpoints = fit_parallel(cfgs, min(cfg.workers, os.cpu_count() or 1)) if together > 1 else [fit(cfgs[0])]
        for models in sorted({1, together}):  # the first model alone, then all of them together
            curve.append(point(cfg, r, attempts, checkpoints[:models], done, clock))
            keep(curve)
    curve_path.write_text(json.dumps(curve, indent=2))
    plot_curve(curve, out / "learning_curve.png", f"{cfg.env}: self-improving collection")

    summary_path = out / "summary.json"
    configs = comparison(cfg, checkpoints)
    last = configs["cem"].model_copy(update={"checkpoint": str(Path(checkpoints[0]).resolve()),
                                             "ensemble": [str(Path(c).resolve()) for c in checkpoints[1:]]})
    (out / "servo.toml").write_text(policy_toml(last, f"The CEM servo `robolearn reproduce` trained on {cfg.env}: "
                                             f"`robolearn eval --policy {out / 'servo.toml'}`"))  # fmt: skip
    measured = {name: configs[name].model_dump(mode="json") for name in ("open_loop", "cem")}
    measured["eval_episodes"] = cfg.eval_episodes
    earlier = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if earlier.get("comparison") == measured:  # a rerun of a finished run does not evaluate again
        final = earlier["final_eval"]
    else:
        with clock.part("evaluate the comparison"):
            final = compare(cfg, configs)
    timing = clock.close()
    by_kind = {}  # collect / train / evaluate
    for part, seconds in timing["parts_s"].items():
        by_kind[part.split()[0]] = by_kind.get(part.split()[0], 0.0) + seconds / 60
    summary = {"env": cfg.env, "model": cfg.model, "scale": cfg.scale, "rounds": cfg.rounds, "grasp_attempts": attempts,
               "ensemble": len(checkpoints), "samples": cfg.samples, "elites": cfg.elites, "learning_curve": curve,
               "final_eval": final, "minutes": timing["total_s"] / 60, "minutes_by_kind": by_kind,
               "invocations": timing["invocations"], "comparison": measured}  # fmt: skip
    summary_path.write_text(json.dumps(summary, indent=2))
    over = f" over {timing['invocations']} invocations" if timing["invocations"] > 1 else ""
    parts = ", ".join(f"{kind} {m:.1f}" for kind, m in by_kind.items()) + " min"
    print(f"reproduce: {attempts} grasp attempts, {summary['minutes']:.1f} minutes on this machine{over} ({parts}); "
          f"{out}")  # fmt: skip
    return summary
