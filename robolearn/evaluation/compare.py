"""Policies evaluated side by side on the same episode seeds, in this process: what `robolearn eval` and
`robolearn reproduce` run. The report (report.json), the comparison table, the plot and the videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robolearn.evaluation.rollout import RolloutReport, rollout, rollout_parallel
from robolearn.policies.registry import PolicyConfig, make_policy


def evaluate_policies(env_spec: str, configs: dict[str, PolicyConfig], seeds: range, *, objects: str = "test",
                      workers: int = 1, record: dict[str, int] | None = None,
                      progress: bool = True) -> tuple[dict[str, dict[str, Any]], dict[str, RolloutReport]]:  # fmt: skip
    """Run each policy of `configs` (name -> config) for one episode per seed of env `env_spec` (an id or env TOML)
    on the `objects` split, on `workers` processes (results do not depend on it), keeping the rgb frames of the
    first `record[name]` episodes. Every policy is built before any runs, so a bad checkpoint stops the run before
    it starts. (results: name -> config and summary, reports: name -> RolloutReport)."""
    from robolearn.envs import make_env

    record = record or {}
    env = make_env(env_spec, objects={"split": objects})
    results, reports = {}, {}
    try:
        policies = {name: make_policy(cfg, env) for name, cfg in configs.items()}  # all checked before any runs
        for name, policy in policies.items():
            if workers > 1:
                report = rollout_parallel(env_spec, objects, configs[name], seeds, workers=workers,
                                          record_first=record.get(name, 0), progress=progress, desc=name)  # fmt: skip
            else:
                report = rollout(env, policy, seeds, record_first=record.get(name, 0), progress=progress, desc=name)
            reports[name] = report
            results[name] = {"policy": configs[name].model_dump(), **report.summary()}
    finally:
        env.close()
    return results, reports


def eval_report(env_spec: str, objects: str, seeds: range, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """report.json: the env, objects and seeds, and every policy's results (one policy: its figures at the top
    level too)."""
    report = {"env": env_spec, "objects": objects, "seeds": [seeds.start, seeds.stop - 1], "policies": results}
    if len(results) == 1:
        report.update({k: v for k, v in next(iter(results.values())).items() if k != "policy"})
    return report


def write_eval_folder(out: Path, report: dict[str, Any], reports: dict[str, RolloutReport], videos: int) -> None:
    """report.json, comparison.md, success.png and MP4s of each policy's first `videos` episodes in `out`."""
    from robolearn.evaluation.media import write_mp4
    from robolearn.evaluation.report import comparison_table, success_plot

    results = report["policies"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "comparison.md").write_text(comparison_table(results) + "\n")
    success_plot(results, out / "success.png", f"{report['env']}, {report['objects']} objects")
    for name, rollouts in reports.items():
        frames, k = rollouts.frames, 0
        for ep in rollouts.episodes[:videos]:
            n = ep.steps + 1  # the first observation and one per step
            write_mp4(out / f"{name}_episode{k}.mp4", frames[:n], fps=2)
            frames, k = frames[n:], k + 1
