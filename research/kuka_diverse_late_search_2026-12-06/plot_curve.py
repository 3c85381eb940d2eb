"""learning_curve.png: the commit-4 servo's success on set L against the grasp attempts its models were trained on,
seed 0's model alone and six models together, from the `robolearn eval` reports of commands.md.

    python docs/results/kuka_diverse_late_search_2026-12-06/plot_curve.py
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2] / "docs" / "results" / Path(__file__).parent.name  # its results folder
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from robolearn.workflows.reproduce import plot_curve  # noqa: E402

POINTS = [  # (report, policy, attempts, models)
    ("out/s27/eval_l_single/report.json", "cem_pose_s0_256_commit4", 24000, 1),
    ("out/s27/eval_l_single/report.json", "cem32k_pose_s0_256_commit4", 32000, 1),
    ("out/s27/eval_l/report.json", "cem_pose6_256_commit4", 24000, 6),
    ("out/s27/eval_l/report.json", "cem32k_pose6_256_commit4", 32000, 6),
]

points = []
for report, policy, attempts, models in POINTS:
    p = json.loads(Path(report).read_text())["policies"][policy]
    points.append({"attempts": attempts, "models": models, "success": p["success_rate"], "ci95": p["success_ci95"]})
    print(f"{policy}: {attempts} attempts, {models} model(s): {p['success_rate']:.3f} {p['success_ci95']}")
plot_curve(points, HERE / "learning_curve.png", "KukaDiverse-v0, set L (1,000 held-out scenes): round 2")
(HERE / "learning_curve.json").write_text(json.dumps(points, indent=1) + "\n")
