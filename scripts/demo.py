"""`make demo`: a small end-to-end run on embedded defaults.

Today (grasping envs only): for each registered env, the scripted oracle runs a few episodes on
held-out test objects; the first is saved as a GIF and the camera view as a PNG, and a JSON
summary is written. Collect -> train -> evaluate joins this as those jobs land.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from robolearn.envs import ENV_IDS, make_env
from robolearn.evaluation.media import write_gif, write_png
from robolearn.evaluation.rollout import make_policy, rollout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    ap.add_argument("--episodes", type=int, default=3, help="oracle episodes per env")
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
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"demo done: {args.out.resolve()}")


if __name__ == "__main__":
    main()
