"""White against colored (1/f^2) exploration noise for the sequence learner: 3 rewards x 2 betas on demonstration 0,
10,000 env steps each, two runs at a time; the table goes to docs/results/imitation_noise_2026-12-07/results.md.
Run from the repository root after `robolearn reproduce-tcn --out out/tcn_experiment`; a rerun continues."""

import json
import sys
from pathlib import Path

from robolearn.train.sequence import SequenceTrainConfig
from robolearn.workflows.reproduce import run_parallel

SRC, OUT = Path("out/tcn_experiment"), Path("out/imitation_noise")
DOC = Path("docs/results/imitation_noise_2026-12-07")
TCN = SRC / "runs" / "tcn-s0" / "checkpoints" / "step-0002000"


def configs(steps: int = 10_000) -> dict[tuple[str, float], SequenceTrainConfig]:
    runs = {}
    for reward in ("true_pose", "true_state", "tcn"):
        for beta in (0.0, 2.0):
            imitation = {"demo": str(SRC / "data" / "kuka_test"), "episode": 0, "reward": reward,
                         "checkpoint": str(TCN) if reward == "tcn" else None}  # fmt: skip
            runs[(reward, beta)] = SequenceTrainConfig.model_validate({
                "imitation": imitation, "learner": {"noise_beta": beta}, "steps": steps, "seed": 0,
                "eval_every": 2500, "checkpoint_every": 2500, "out": str(OUT / f"{reward}-beta{beta:g}")})  # fmt: skip
    return runs


def done(cfg) -> bool:
    path = Path(cfg.out) / "summary.json"
    return path.exists() and json.loads(path.read_text())["steps"] >= cfg.steps


def main() -> None:
    runs = configs()
    run_parallel(list(runs.values()), 2, done)
    lines = ["| reward | noise | path error (cm) | final error (cm) | object error (cm) | pose / objects success |",
             "|---|---|---|---|---|---|"]
    for (reward, beta), cfg in runs.items():
        last = json.loads((Path(cfg.out) / "metrics.jsonl").read_text().splitlines()[-1])
        lines.append(f"| {reward} | {'white' if beta == 0 else f'1/f^{beta:g}'} | {last['pose_error_cm']:.1f} | "
                     f"{last['final_error_cm']:.1f} | {last['object_error_cm']:.1f} | "
                     f"{int(last['pose_success'])} / {int(last['objects_success'])} |")
    text = "\n".join(lines) + "\n"
    (DOC / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
