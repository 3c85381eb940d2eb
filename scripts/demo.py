"""`make demo`: a small end-to-end run on embedded defaults.

1. For each registered env, the scripted oracle runs a few episodes on held-out test objects; the
   first is saved as a GIF and the camera view as a PNG.
2. Collect -> train -> evaluate: a small grasp dataset on GraspKuka-v0 (oracle with 50% random
   actions, 2 workers), the grasp CNN trained on it for a few hundred steps (validated on held-out
   episodes), then the CEM servo over that CNN against the random policy, back in simulation on
   held-out objects. A demo budget: the figures show the pipeline runs, not what it can reach.
A JSON summary of both goes to <out>/summary.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from robolearn.envs import ENV_IDS, make_env
from robolearn.evaluation.media import write_gif, write_png
from robolearn.evaluation.rollout import rollout
from robolearn.policies.registry import make_policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    ap.add_argument("--episodes", type=int, default=3, help="oracle episodes per env")
    ap.add_argument("--collect", type=int, default=60, help="episodes to collect for training")
    ap.add_argument("--steps", type=int, default=200, help="training steps of the grasp CNN")
    ap.add_argument("--eval-episodes", type=int, default=10, help="evaluation episodes per policy")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for env_id, preset in ENV_IDS.items():
        env = make_env(env_id, objects={"split": "test"})
        try:
            report = rollout(
                env, make_policy("oracle", env), range(args.episodes), record_first=1, progress=True, desc=preset
            )
        finally:
            env.close()
        write_gif(args.out / f"{preset}_oracle.gif", report.frames)
        write_png(args.out / f"{preset}_view.png", report.frames[0])
        s = report.summary()
        summary[env_id] = {k: s[k] for k in ("episodes", "success_rate", "success_ci95", "episodes_per_s")}
        print(f"{env_id}: oracle success {report.successes}/{report.n}; wrote {preset}_oracle.gif, {preset}_view.png")
    summary["collect_train_eval"] = collect_train_eval(args.out, args.collect, args.steps, args.eval_episodes)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"demo done: {args.out.resolve()}")


def collect_train_eval(out: Path, episodes: int, steps: int, eval_episodes: int) -> dict:
    from robolearn.collection.campaign import CampaignConfig, prepare, run_local
    from robolearn.envs import load_env_config
    from robolearn.train.grasp import TrainConfig, train

    cfg = CampaignConfig(env="robolearn/GraspKuka-v0", policy={"name": "oracle", "epsilon": 0.5, "down_bias": 0.5},
                         episodes=episodes, workers=2, store=str(out / "dataset"))  # fmt: skip
    env_config = load_env_config(cfg.env, objects={"split": cfg.objects}).model_dump(mode="json")
    todo = prepare(cfg, env_config, resume=True)
    collected = run_local(cfg, env_config, todo) if todo else {"collected": 0}
    print(f"collected {collected['collected']} episodes into {cfg.store}")
    run = out / "grasp_cnn"
    shutil.rmtree(run, ignore_errors=True)
    tcfg = TrainConfig(steps=steps, eval_every=steps, checkpoint_every=steps, out=str(run),
                       data={"stores": [cfg.store], "holdout": 0.2})  # fmt: skip
    result = train(tcfg)
    val = result["val"]
    print(f"grasp CNN after {steps} steps: validation AUC {val['auc']:.3f}, accuracy {val['accuracy']:.3f} "
          f"on {val['frames']} held-out frames; checkpoint {result['checkpoint']}")  # fmt: skip
    from robolearn.envs import make_env
    from robolearn.policies.registry import PolicyConfig

    env = make_env(cfg.env, objects={"split": "test"})
    evaluated = {}
    try:
        for name in ("random", "cem"):
            pol = make_policy(PolicyConfig(name=name, checkpoint=result["checkpoint"]), env)
            report = rollout(env, pol, range(1_000_000, 1_000_000 + eval_episodes), progress=True, desc=name)
            evaluated[name] = report.summary()["success_rate"]
            print(f"{name} on held-out objects: success {report.successes}/{report.n}")
    finally:
        env.close()
    return {"dataset": cfg.store, "checkpoint": result["checkpoint"], "val": val, "eval_success": evaluated}


if __name__ == "__main__":
    main()
