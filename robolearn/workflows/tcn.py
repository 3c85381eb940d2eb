"""From nothing to the TCN comparison table, in one command: `robolearn reproduce-tcn`.

    collect   multi-view motion video (robolearn/MotionKuka-v0, 4 swaying cameras): training episodes on training
              objects, held-out episodes on test objects; the Panda playing the same paths (the same seeds)
    train     for each seed: the multi-view TCN (n-pairs) on the KUKA's video with view 3 held out; the single-view
              TCN; the same network trained on the pose labels (an upper bound); the multi-view TCN on both arms
    evaluate  for each seed, one `robolearn eval-embedding` of all of them and the untrained network and raw pixels,
              on the same held-out frames: alignment across views (seen and held out), Kendall's tau, a ridge pose
              probe on 1% / 10% / 100% of the labels, alignment and tau across arms
    judge     the means over seeds, and each of the issue's bars, in results.md / results.json

A rerun continues where it stopped (datasets resume, finished runs are kept); `--scale` multiplies every episode and
step count. Writes into --out: data/ (the four datasets), runs/<model>-s<seed>/ (training runs), eval/seed-<s>/
(eval-embedding folders), results.md, results.json, timing.json; prints the time it took.

    robolearn reproduce-tcn --scale 0.05 --seeds 1   # minutes: a smoke run
    robolearn reproduce-tcn                          # 83 minutes on 2 cores (2026-12-07)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

import robolearn
from robolearn.collection.campaign import CampaignConfig, prepare, run_local
from robolearn.config import Config, ConfigError, load_toml
from robolearn.envs import load_env_config
from robolearn.workflows.reproduce import Clock, finished_checkpoint, run_parallel

ROOT = Path(robolearn.__file__).resolve().parents[1]
HELD_OUT_VIEW = 3  # the fourth camera's sector of azimuths: no model trains on it
# model name -> (training loss, arms it trains on)
MODELS = {"tcn": ("npairs", ("kuka",)), "single_view": ("single_view", ("kuka",)),
          "supervised": ("supervised", ("kuka",)), "tcn_both_arms": ("npairs", ("kuka", "panda"))}  # fmt: skip


class TCNExperimentConfig(Config):
    """`robolearn reproduce-tcn --help`."""

    scale: float = Field(1.0, gt=0, description="multiplies every episode and step count")
    seeds: int = Field(3, ge=1, le=10, description="training seeds (each model trained once per seed)")
    train_episodes: int = Field(600, ge=4, description="the KUKA's training episodes (before scale)")
    panda_episodes: int = Field(300, ge=4, description="the Panda's training episodes, the same paths (before scale)")
    test_episodes: int = Field(100, ge=2, description="held-out episodes of each arm, test objects (before scale)")
    steps: int = Field(2000, ge=1, description="training steps of each model (before scale)")
    workers: int = Field(2, ge=1, description="collection processes, and training runs at a time")
    out: str = Field("out/tcn_experiment", description="output folder; a rerun continues there")


def collect(cfg: TCNExperimentConfig, arm: str, split: str, episodes: int) -> str:
    """One dataset of collection/multiview_<arm>.toml: training objects and seed 0, or test objects and seed 1."""
    campaign = load_toml(ROOT / "collection" / f"multiview_{arm}.toml", CampaignConfig, overrides={
        "episodes": max(int(episodes * cfg.scale), 2), "workers": cfg.workers, "seed": 0 if split == "train" else 1,
        "objects": "train" if split == "train" else "test", "store": str(Path(cfg.out) / "data" / f"{arm}_{split}")})  # fmt: skip
    env_config = load_env_config(campaign.env, objects={"split": campaign.objects}).model_dump(mode="json")
    todo = prepare(campaign, env_config, resume=True)
    if todo:
        summary = run_local(campaign, env_config, todo)
        print(f"{arm}_{split}: collected {summary['collected']} episodes", flush=True)
        if summary["collected"] < len(todo):
            raise SystemExit(f"error: collection of {campaign.store} stopped short (a rerun continues it)")
    return campaign.store


def run_config(cfg: TCNExperimentConfig, name: str, seed: int, data: dict[str, str]):
    from robolearn.train.tcn import TCNTrainConfig

    loss, arms = MODELS[name]
    steps = max(int(cfg.steps * cfg.scale), 2)
    base = load_toml(ROOT / "policies" / "tcn.toml", TCNTrainConfig)
    return base.model_copy(update={
        "loss": loss, "seed": seed, "steps": steps, "eval_every": steps, "checkpoint_every": max(steps // 4, 1),
        "out": str(Path(cfg.out) / "runs" / f"{name}-s{seed}"),
        "data": base.data.model_copy(update={"stores": [data[f"{arm}_train"] for arm in arms],
                                             "views": [v for v in range(4) if v != HELD_OUT_VIEW],
                                             "memory_limit_mb": 16384})})  # fmt: skip


def finished(tcfg) -> str | None:
    """The last checkpoint of a finished run (what the evaluation uses, for every model alike); None before."""
    return finished_checkpoint(tcfg.out, tcfg.steps)


def evaluate_seed(cfg: TCNExperimentConfig, seed: int, checkpoints: dict[str, str], data: dict[str, str]) -> dict:
    """eval-embedding of this seed's models and baselines (the untrained network initialised from the seed)."""
    from robolearn.evaluation import embedding as em
    from robolearn.models.checkpoint import read_config

    folder = Path(cfg.out) / "eval" / f"seed-{seed}"
    if (folder / "report.json").exists():
        saved = json.loads((folder / "report.json").read_text())
        if saved["checkpoints"] == checkpoints and saved.get("metrics_version") == em.METRICS_VERSION:
            return saved["embedders"]
    test = em.MotionEpisodes.read(data["kuka_test"])
    train = em.MotionEpisodes.read(data["kuka_train"], limit=max(int(200 * cfg.scale), 4))
    cross = em.MotionEpisodes.read(data["panda_test"])
    config = read_config(checkpoints["tcn"])["config"]
    embedders = {name: em.tcn_embedder(path) for name, path in checkpoints.items()}
    embedders["untrained"] = em.tcn_embedder(config={**config, "pose_outputs": 0}, seed=seed)
    embedders["pixels"] = em.pixel_embedder()
    reports = {}
    for name, embed in embedders.items():
        feats = em.embed_episodes(embed, test)
        reports[name] = em.evaluate(embed, test, feats=feats, train=train, cross=cross,
                                    held_out_views=(HELD_OUT_VIEW,), seed=seed)  # fmt: skip
        if name == "tcn":
            folder.mkdir(parents=True, exist_ok=True)
            em.pca_picture(folder / "pca_tcn.png", feats, f"multi-view TCN, seed {seed}: held-out episodes, view 0")
            em.alignment_video(folder / "alignment_tcn.mp4", feats, test)
    em.write_report(folder, reports, {"seed": seed, "checkpoints": checkpoints, "held_out_views": [HELD_OUT_VIEW],
                                      **{f"{k}_store": v for k, v in data.items()}})  # fmt: skip
    print(f"seed {seed}:\n{em.markdown_table(reports)}", flush=True)
    return reports


def _get(report: dict, path: tuple[str, ...]) -> float | None:
    for key in path:
        report = report.get(key) if isinstance(report, dict) else None
    return report


METRICS: dict[str, tuple[str, ...]] = {  # a row of the table -> where it is in an eval-embedding report
    "alignment error, seen views": ("alignment_error",),
    "alignment error, held-out view": ("alignment_error_held_out_views",),
    "Kendall's tau (grasps, pushes)": ("kendall_tau",),
    "probe joints, rad (1%)": ("probe", "0.01", "joints_rad"),
    "probe joints, rad (10%)": ("probe", "0.1", "joints_rad"),
    "probe joints, rad (100%)": ("probe", "1", "joints_rad"),
    "probe grasp point, cm (1%)": ("probe", "0.01", "tip_cm"),
    "probe grasp point, cm (10%)": ("probe", "0.1", "tip_cm"),
    "probe grasp point, cm (100%)": ("probe", "1", "tip_cm"),
    "across arms: alignment error": ("cross_arm", "alignment_error"),
    "across arms: tau": ("cross_arm", "kendall_tau"),
}
SELF_SUPERVISED_BASELINES = ("untrained", "pixels", "single_view")


def summarize(per_seed: list[dict[str, dict]]) -> dict[str, dict[str, dict[str, float]]]:
    """model -> metric -> {mean, sd, n} over seeds."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model in per_seed[0]:
        out[model] = {}
        for metric, path in METRICS.items():
            values = [v for r in per_seed if (v := _get(r[model], path)) is not None]
            if values:
                out[model][metric] = {"mean": float(np.mean(values)), "sd": float(np.std(values)), "n": len(values)}
    return out


def judge(table: dict[str, dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    """The issue's bars on the means over seeds: each with its figures and whether it holds."""

    def m(model: str, metric: str) -> float:
        return table[model].get(metric, {}).get("mean", float("nan"))  # nan: not measured (too few episodes)

    bars = []
    align = "alignment error, seen views"
    bars.append({"bar": "multi-view TCN alignment error <= 0.5x the untrained network's",
                 "value": m("tcn", align), "bound": 0.5 * m("untrained", align)})  # fmt: skip
    bars.append({"bar": "multi-view TCN alignment error below single-view TCN's", "value": m("tcn", align),
                 "bound": m("single_view", align), "strict": True})  # fmt: skip
    bars.append({"bar": "Kendall's tau >= 0.9", "value": m("tcn", "Kendall's tau (grasps, pushes)"), "bound": 0.9,
                 "higher": True})  # fmt: skip
    for metric in ("probe joints, rad (10%)", "probe grasp point, cm (10%)"):
        best = min(m(b, metric) for b in SELF_SUPERVISED_BASELINES)
        bars.append({"bar": f"{metric} <= 0.5x the best self-supervised baseline's", "value": m("tcn", metric),
                     "bound": 0.5 * best})  # fmt: skip
        bars.append({"bar": f"{metric} within 1.5x the supervised network's", "value": m("tcn", metric),
                     "bound": 1.5 * m("supervised", metric)})  # fmt: skip
    bars.append({"bar": "held-out view at most 20% worse than seen views (alignment error)",
                 "value": m("tcn", "alignment error, held-out view"), "bound": 1.2 * m("tcn", align)})  # fmt: skip
    for b in bars:
        higher, strict = b.pop("higher", False), b.pop("strict", False)
        if np.isnan(b["value"]) or np.isnan(b["bound"]):
            b["holds"], b["value"], b["bound"] = None, None, None
            continue
        b["holds"] = bool(b["value"] >= b["bound"] if higher else (b["value"] < b["bound"] if strict
                                                                    else b["value"] <= b["bound"]))  # fmt: skip
    return bars


def results_markdown(table: dict, bars: list[dict], seeds: int, minutes: float) -> str:
    models = list(table)
    lines = [f"Means over {seeds} training seed(s) (± sd across seeds), held-out episodes on test objects; "
             f"{minutes:.0f} minutes on this machine.", "",
             "| metric | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]  # fmt: skip
    for metric in METRICS:
        cells = []
        for model in models:
            v = table[model].get(metric)
            cells.append("–" if v is None else f"{v['mean']:.3f} ± {v['sd']:.3f}")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    lines += ["", "| bar | value | bound | holds |", "|---|---|---|---|"]
    for b in bars:
        if b["holds"] is None:
            lines.append(f"| {b['bar']} | – | – | not measured |")
        else:
            lines.append(f"| {b['bar']} | {b['value']:.3f} | {b['bound']:.3f} | {'yes' if b['holds'] else 'no'} |")
    return "\n".join(lines) + "\n"


def run(cfg: TCNExperimentConfig) -> dict[str, Any]:
    """The whole experiment into `cfg.out`, continuing what an earlier invocation left; results.json's content."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(out / "timing.json")
    data = {}
    with clock.part("collect"):
        for arm, episodes in (("kuka", cfg.train_episodes), ("panda", cfg.panda_episodes)):
            data[f"{arm}_train"] = collect(cfg, arm, "train", episodes)
            data[f"{arm}_test"] = collect(cfg, arm, "test", cfg.test_episodes)
    runs = {(name, seed): run_config(cfg, name, seed, data) for seed in range(cfg.seeds) for name in MODELS}
    with clock.part("train"):
        run_parallel(list(runs.values()), cfg.workers, finished)
    per_seed = []
    with clock.part("evaluate"):
        for seed in range(cfg.seeds):
            checkpoints = {name: finished(runs[(name, seed)]) for name in MODELS}
            per_seed.append(evaluate_seed(cfg, seed, checkpoints, data))
    table = summarize(per_seed)
    bars = judge(table)
    timing = clock.close()
    minutes = timing["total_s"] / 60
    results = {"config": cfg.model_dump(), "table": table, "bars": bars, "minutes": minutes,
               "minutes_by_part": {k: v / 60 for k, v in timing["parts_s"].items()}}  # fmt: skip
    (out / "results.json").write_text(json.dumps(results, indent=2))
    text = results_markdown(table, bars, cfg.seeds, minutes)
    (out / "results.md").write_text(text)
    print(text)
    print(f"took {minutes:.1f} minutes ({', '.join(f'{k} {v / 60:.1f}' for k, v in timing['parts_s'].items())})")
    return results
