"""`make demo`: the CEM servo grasping held-out objects with the model this repository ships, then a smoke run of
the whole pipeline at tiny scale.

1. The shipped model (policies/kuka_diverse_demo: a grasp CNN trained by `robolearn reproduce` on 8,000 attempts,
   its command and figures in its README.md): the CEM servo over it on held-out objects of KukaDiverse-v0, scenes
   it never saw, printed beside the rate measured when it was made; the first episode as a GIF.
2. For each registered grasp env, the scripted oracle runs a few episodes on held-out objects; the first is saved
   as a GIF and the camera view as a PNG.
3. A smoke run at tiny scale, collect -> train -> evaluate: a small GraspKuka-v0 dataset (oracle with 50% random
   actions, 2 workers), the grasp CNN trained on it for a few hundred steps, then the CEM servo over that CNN
   against the random policy. It shows that the pipeline runs, not what it reaches: that is step 1's model.
A JSON summary goes to <out>/summary.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import robolearn
from robolearn.envs import ENV_IDS, make_env
from robolearn.evaluation.media import write_gif, write_png
from robolearn.evaluation.rollout import rollout
from robolearn.policies.registry import make_policy

ROOT = Path(robolearn.__file__).resolve().parents[1]
SHIPPED = ROOT / "policies" / "kuka_diverse_demo"  # the model make demo shows: its README says how it was made
DEMO_SEED = 1_500_000  # the demo's held-out scenes: not the 1,000,000.. its figure was measured on


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    ap.add_argument("--servo-episodes", type=int, default=50, help="held-out scenes for the shipped model's servo")
    ap.add_argument("--episodes", type=int, default=3, help="oracle episodes per env")
    ap.add_argument("--collect", type=int, default=60, help="episodes to collect for training")
    ap.add_argument("--steps", type=int, default=200, help="training steps of the grasp CNN")
    ap.add_argument("--eval-episodes", type=int, default=10, help="evaluation episodes per policy")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"shipped_model": shipped_model(args.out, args.servo_episodes)}
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
    shipped = summary["shipped_model"]
    print(f"demo done, files in {args.out.resolve()}: the shipped model's servo grasped {shipped['success_rate']:.0%} "
          f"of {shipped['episodes']} held-out scenes; the smoke run's figures show only that collect, train and "
          "evaluate run (a few hundred steps on 60 episodes)")  # fmt: skip


def shipped_model(out: Path, episodes: int) -> dict:
    """The CEM servo over the shipped model on `episodes` held-out scenes, beside the rate measured when it was made."""
    from robolearn.evaluation.rollout import rollout_parallel
    from robolearn.policies.registry import PolicyConfig

    measured = json.loads((SHIPPED / "measured.json").read_text())
    policy = PolicyConfig.model_validate({**measured["policy"], "checkpoint": str(SHIPPED)})
    seeds = range(DEMO_SEED, DEMO_SEED + episodes)  # not among the scenes it was measured on
    report = rollout_parallel(measured["env"], "test", policy, seeds, workers=2, record_first=1, progress=True,
                              desc="servo, shipped model")  # fmt: skip
    write_gif(out / "servo_shipped_model.gif", report.frames)
    s = report.summary()
    (lo, hi), (mlo, mhi) = s["success_ci95"], measured["success_ci95"]
    print(f"shipped model ({measured['attempts']:,} grasp attempts), CEM servo on {measured['env']}, held-out objects: "
          f"{report.successes}/{report.n} = {s['success_rate']:.0%} [95% CI {lo:.0%}-{hi:.0%}] here; measured "
          f"{measured['success']:.1%} [{mlo:.1%}-{mhi:.1%}] on {measured['episodes']} other scenes when it was "
          f"made ({SHIPPED.relative_to(ROOT)}/README.md); wrote servo_shipped_model.gif")  # fmt: skip
    return {"episodes": report.n, "success_rate": s["success_rate"], "success_ci95": s["success_ci95"],
            "measured": {k: measured[k] for k in ("success", "success_ci95", "episodes")}}  # fmt: skip


def collect_train_eval(out: Path, episodes: int, steps: int, eval_episodes: int) -> dict:
    from robolearn.collection.campaign import CampaignConfig, prepare, run_local
    from robolearn.envs import load_env_config
    from robolearn.train.grasp import TrainConfig, train

    cfg = CampaignConfig(env="robolearn/GraspKuka-v0", policy={"name": "oracle", "epsilon": 0.5, "down_bias": 0.5},
                         episodes=episodes, workers=2, store=str(out / "dataset"))  # fmt: skip
    env_config = load_env_config(cfg.env, objects={"split": cfg.objects}).model_dump(mode="json")
    todo = prepare(cfg, env_config, resume=True)
    collected = run_local(cfg, env_config, todo) if todo else {"collected": 0}
    print(f"smoke run at tiny scale: collected {collected['collected']} episodes into {cfg.store}")
    run = out / "grasp_cnn"
    shutil.rmtree(run, ignore_errors=True)
    tcfg = TrainConfig(steps=steps, eval_every=steps, checkpoint_every=steps, out=str(run),
                       data={"stores": [cfg.store], "holdout": 0.2})  # fmt: skip
    result = train(tcfg)
    val = result["val"]
    print(f"smoke run: grasp CNN after {steps} steps: validation AUC {val['auc']:.3f}, accuracy {val['accuracy']:.3f} "
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
            print(f"smoke run: {name} on held-out objects: success {report.successes}/{report.n}")
    finally:
        env.close()
    return {"dataset": cfg.store, "checkpoint": result["checkpoint"], "val": val, "eval_success": evaluated}


if __name__ == "__main__":
    main()
