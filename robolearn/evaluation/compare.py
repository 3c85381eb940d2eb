"""Policies evaluated side by side on the same episode seeds, in this process: what `robolearn eval` and
`robolearn reproduce` run. The report (report.json), the comparison table, the plot and the videos."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from robolearn.config import ConfigError
from robolearn.evaluation.rollout import Episode, RolloutReport, rollout, rollout_parallel
from robolearn.policies.registry import PolicyConfig, make_policy


def evaluate_policies(env_spec: str, configs: dict[str, PolicyConfig], seeds: range, *, objects: str = "test",
                      workers: int = 1, record: dict[str, int] | None = None, progress: bool = True,
                      journal: Path | None = None, resume: bool = False,
                      on_frames: Callable[[str, int, list], None] | None = None,
                      ) -> tuple[dict[str, dict[str, Any]], dict[str, RolloutReport]]:  # fmt: skip
    """Run each policy of `configs` (name -> config) for one episode per seed of env `env_spec` (an id or env TOML)
    on the `objects` split, on `workers` processes (results do not depend on it), recording the rgb frames of the
    first `record[name]` episodes: `on_frames(name, k, frames)` sees the k-th seed's as its chunk ends. Every
    policy is built before any runs, so a bad checkpoint stops the run before it starts.

    `journal`: a file that keeps every chunk of finished episodes as it ends (JSON lines); with `resume`, the
    episodes it already holds for the same env, split, seeds and policies count and are not played again (its
    frames are not kept: those episodes' `on_frames` ran then). (results: name -> config and summary, reports:
    name -> RolloutReport of all the episodes, in seed order.)"""
    from robolearn.envs import make_env

    record = record or {}
    header = {"evaluation": env_spec, "objects": objects, "seeds": [seeds.start, seeds.stop],
              "policies": {name: cfg.model_dump(mode="json") for name, cfg in configs.items()}}  # fmt: skip
    earlier = EvalJournal.resume(journal, header) if journal and resume else EvalJournal.start(journal, header)
    env = make_env(env_spec, objects={"split": objects})
    results, reports = {}, {}
    try:
        policies = {name: make_policy(cfg, env) for name, cfg in configs.items()}  # all checked before any runs
        for name, policy in policies.items():
            kept = earlier.parts(name)
            played = {e.seed for part in kept for e in part.episodes}
            todo = [s for s in seeds if s not in played]
            first = sum(1 for s in seeds[: record.get(name, 0)] if s not in played)  # those lead `todo`
            t0 = time.perf_counter()

            def keep(part: RolloutReport, name=name, t0=t0) -> None:
                earlier.add(name, part, time.perf_counter() - t0)
                for seed, frames in part.recorded():
                    if on_frames is not None:
                        on_frames(name, seed - seeds.start, frames)

            if todo and workers > 1:
                rollout_parallel(env_spec, objects, configs[name], todo, workers=workers, record_first=first,
                                 progress=progress, desc=name, on_part=keep)  # fmt: skip
            elif todo:
                bar = tqdm(total=len(todo), desc=name, unit="ep", disable=not progress, dynamic_ncols=True)
                with bar:
                    for i in range(0, len(todo), CHUNK):
                        part = rollout(env, policy, todo[i : i + CHUNK], record_first=max(0, first - i))
                        keep(part)
                        bar.update(part.n)
            parts = earlier.parts(name)  # this invocation's too
            order = {s: k for k, s in enumerate(seeds)}
            report = RolloutReport.merge(parts, earlier.seconds(name))
            report.episodes.sort(key=lambda e: order[e.seed])
            report.frames = []  # on_frames had them
            reports[name] = report
            results[name] = {"policy": configs[name].model_dump(), **report.summary()}
    finally:
        env.close()
    return results, reports


JOURNAL = "episodes.jsonl"  # an evaluation folder's journal (EvalJournal)
CHUNK = 10  # episodes a journal line keeps: an interrupt loses at most the chunks being played


class EvalJournal:
    """Every chunk of finished evaluation episodes, one JSON line each after a header line that names the env, split,
    seeds and policies, so an interrupted evaluation can resume. Without a path it keeps them in memory."""

    def __init__(self, path: Path | None, header: dict[str, Any], lines: list[dict[str, Any]]):
        self.path, self.header, self.lines = path, header, lines
        self.run = 1 + max((line["run"] for line in lines), default=0)  # this invocation

    @classmethod
    def start(cls, path: Path | None, header: dict[str, Any]) -> EvalJournal:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(header) + "\n")
        return cls(path, header, [])

    @classmethod
    def resume(cls, path: Path, header: dict[str, Any]) -> EvalJournal:
        """The journal at `path`, refused (ConfigError) unless it is one of the same evaluation; a line cut short by
        a kill is dropped."""
        if not path.is_file():
            return cls.start(path, header)
        rows = path.read_text().splitlines()
        try:
            first = json.loads(rows[0]) if rows else None
        except json.JSONDecodeError:
            first = None
        if first != json.loads(json.dumps(header)):
            what = "a different evaluation" if isinstance(first, dict) and "evaluation" in first else "not a journal"
            raise ConfigError(f"--resume: {path} is {what} (another env, split, seeds or policies); run the same "
                              "command to resume, or pass --force to start again")  # fmt: skip
        lines = []
        for row in rows[1:]:
            try:
                lines.append(json.loads(row))
            except json.JSONDecodeError:  # the last line, cut short: its episodes are played again
                break
        journal = cls(path, header, lines)
        path.write_text("".join(json.dumps(x) + "\n" for x in [header, *lines]))  # without a cut line
        return journal

    def add(self, name: str, part: RolloutReport, elapsed: float) -> None:
        line = {"policy": name, "run": self.run, "elapsed": elapsed, "seconds": part.seconds,
                "cpu_s": part.cpu_s, "physics_s": part.physics_s, "render_s": part.render_s,
                "substeps": part.substeps, "episodes": [asdict(e) for e in part.episodes]}  # fmt: skip
        self.lines.append(line)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(line) + "\n")

    def parts(self, name: str) -> list[RolloutReport]:
        return [RolloutReport([Episode(**e) for e in x["episodes"]], x["seconds"], x["physics_s"], x["render_s"],
                              x["substeps"], cpu_s=x["cpu_s"]) for x in self.lines if x["policy"] == name]  # fmt: skip

    def seconds(self, name: str) -> float:
        """The wall clock `name` took, over every invocation."""
        runs: dict[int, float] = {}
        for x in self.lines:
            if x["policy"] == name:
                runs[x["run"]] = max(runs.get(x["run"], 0.0), x["elapsed"])
        return sum(runs.values())


def eval_report(env_spec: str, objects: str, seeds: range, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """report.json: the env, objects and seeds, and every policy's results (one policy: its figures at the top
    level too)."""
    report = {"env": env_spec, "objects": objects, "seeds": [seeds.start, seeds.stop - 1], "policies": results}
    if len(results) == 1:
        report.update({k: v for k, v in next(iter(results.values())).items() if k != "policy"})
    return report


def write_eval_folder(out: Path, report: dict[str, Any]) -> None:
    """report.json, comparison.md and success.png in `out` (the videos are written as their episodes end:
    `write_videos`)."""
    from robolearn.evaluation.report import comparison_table, success_plot

    results = report["policies"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "comparison.md").write_text(comparison_table(results) + "\n")
    success_plot(results, out / "success.png", f"{report['env']}, {report['objects']} objects")


def write_videos(out: Path) -> Callable[[str, int, list], None]:
    """An `on_frames` for evaluate_policies: each recorded episode as <out>/<policy>_episode<k>.mp4."""
    from robolearn.evaluation.media import write_mp4

    def write(name: str, k: int, frames: list) -> None:
        out.mkdir(parents=True, exist_ok=True)
        write_mp4(out / f"{name}_episode{k}.mp4", frames, fps=2)

    return write
