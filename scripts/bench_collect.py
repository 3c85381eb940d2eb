"""Benchmark collection (`robolearn collect`): episodes/hour with 1 and 2 local workers and 2 Ray workers, the
time spent storing against the env's own episode time, bytes per frame and compression of 64x64 RGB; and the
CEM servo (an untrained spatial GraspCNN, KukaDiverse-v0) collected and evaluated on 2 workers side by side,
where a model scores actions in every worker. Writes a section of docs/BENCHMARKS.md.

    python scripts/bench_collect.py [--episodes 60]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchdoc import publish  # noqa: E402

from robolearn.collection.campaign import CampaignConfig, episode_seed, prepare, run_local, run_ray  # noqa: E402
from robolearn.data.info import summarize  # noqa: E402
from robolearn.envs import load_env_config  # noqa: E402

SEED = 1  # every campaign's seed: the servo's evaluation replays the scenes its collection played


def run(workers: int, episodes: int, tmp: Path, backend: str = "local", **campaign) -> dict:
    campaign = campaign or {"env": "robolearn/GraspKuka-v0", "policy": {"name": "random", "down_bias": 1.0}}
    cfg = CampaignConfig(**campaign, episodes=episodes, workers=workers, seed=SEED,
                         store=str(tmp / f"{backend}{workers}{campaign['policy']['name']}"))  # fmt: skip
    env_config = load_env_config(cfg.env, objects={"split": cfg.objects}).model_dump(mode="json")
    todo = prepare(cfg, env_config, resume=False)
    runner = run_ray if backend == "ray" else run_local
    summary = runner(cfg, env_config, todo, progress=False)
    summary.update(summarize(cfg.store))
    print(f"  {backend} {cfg.policy}, {workers} worker(s): {summary['episodes_per_hour']:.0f} episodes/hour, store time "
          f"{100 * summary['store_time_fraction']:.1f}% of env time", flush=True)  # fmt: skip
    return summary


def untrained_servo_checkpoint(env: str, path: Path) -> str:
    """A spatial GraspCNN (policies/grasp_cnn_spatial.toml's sizes) with its initial weights: it costs what a
    trained one costs per step."""
    from robolearn.models.checkpoint import save
    from robolearn.models.grasp_cnn import GraspCNN, GraspCNNConfig
    from robolearn.sim.camera import fixed_clip_matrix

    cam = load_env_config(env).camera
    config = GraspCNNConfig.for_size(cam.width, channels=32, fc=64, state_input=True, readout="spatial",
                                     merge_pool=1, post_merge=1, camera=fixed_clip_matrix(cam).ravel().tolist())  # fmt: skip
    return str(save(path, model=GraspCNN(config), model_name="GraspCNN", model_config=config.model_dump(), step=0))


def servo_eval(checkpoint: str, env: str, episodes: int) -> dict:
    from robolearn.evaluation.rollout import rollout_parallel
    from robolearn.policies.registry import PolicyConfig

    cfg = PolicyConfig(name="cem", checkpoint=checkpoint, epsilon=0.1)
    seeds = [episode_seed(SEED, i) for i in range(episodes)]  # the scenes `run` collected
    report = rollout_parallel(env, "train", cfg, seeds, workers=2).summary()
    print(f"  eval cem, 2 workers: {3600 * report['episodes_per_s']:.0f} episodes/hour", flush=True)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=60, help="episodes per worker")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_collect_"))
    try:
        one = run(1, args.episodes, tmp)
        two = run(2, 2 * args.episodes, tmp)
        ray2 = run(2, 2 * args.episodes, tmp, backend="ray")
        servo_env = "robolearn/KukaDiverse-v0"
        checkpoint = untrained_servo_checkpoint(servo_env, tmp / "servo")
        servo = run(2, 2 * args.episodes, tmp, env=servo_env, policy={"name": "cem", "checkpoint": checkpoint,
                                                                     "epsilon": 0.1, "down_bias": 0.5})
        servo_ev = servo_eval(checkpoint, servo_env, 2 * args.episodes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    scaling = two["episodes_per_hour"] / one["episodes_per_hour"]
    cmd = " ".join(["python scripts/bench_collect.py", *sys.argv[1:]])
    text = "\n".join([
        "## Collection (`python scripts/bench_collect.py` → robolearn collect)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, 2 cores; command: `{cmd}`. GraspKuka-v0 "
        "(64x64 RGB), random policy with down_bias 1.0, training objects; the runs one after another.",
        "",
        "| backend | workers | episodes | episodes/hour | store time / env time | success |",
        "|---|---|---|---|---|---|",
        *(f"| {b} | {w} | {r['collected']} | {r['episodes_per_hour']:.0f} | {100 * r['store_time_fraction']:.1f}% | "
          f"{r['success_rate']:.3f} |" for b, w, r in (("local", 1, one), ("local", 2, two), ("ray", 2, ray2))),
        "",
        f"Scaling 1 → 2 workers: {scaling:.2f}x (target ≥ 1.8x). Ray / local with 2 workers: "
        f"{ray2['episodes_per_hour'] / two['episodes_per_hour']:.2f} (target within 10%; Ray's start is inside the "
        "time). Bytes per frame on disk (all keys): "
        f"{two['bytes_per_frame']:.0f}; compression ratio of the frame data: {two['compression_ratio']:.1f}x.",
        "",
        f"The CEM servo (an untrained spatial GraspCNN, epsilon 0.1) on KukaDiverse-v0, {servo['collected']} episodes on "
        f"2 workers: collected {servo['episodes_per_hour']:.0f} episodes/hour, evaluated "
        f"{3600 * servo_ev['episodes_per_s']:.0f} episodes/hour (`rollout_parallel`, the same policy; no store); "
        f"collection / evaluation {servo['episodes_per_hour'] / (3600 * servo_ev['episodes_per_s']):.2f} (target ≥ 0.9). The collector "
        "stores what evaluation does not, so a little below 1 is expected.",
        "",
    ])  # fmt: skip
    publish(text, write=not args.no_write)


if __name__ == "__main__":
    main()
