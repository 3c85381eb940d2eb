"""Play a servo TOML on chosen seeds of earlier `robolearn eval` reports (the held-out objects of KukaDiverse-v0),
and pair its outcomes with those reports' on the same seeds. An episode is a function of its seed, so two servos
that act alike until an action play the same episodes until then.

    python replay_seeds.py POLICY.toml REPORT.json... --policy-name NAME [--late-only] [--limit N] --out OUT.json
"""

import argparse
import json

from robolearn.evaluation.report import paired_difference
from robolearn.evaluation.rollout import rollout_parallel, wilson_interval
from robolearn.policies.registry import policy_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("policy")
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--policy-name", required=True, help="the policy of the reports to pair with")
    ap.add_argument(
        "--late-only", action="store_true", help="only the seeds where that policy took more than 7 actions"
    )
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    before = []
    for path in a.reports:
        report = json.load(open(path))
        before += [e for e in report["policies"][a.policy_name]["per_episode"] if e["steps"] > 7 or not a.late_only]
    before = before[: a.limit]
    seeds = [e["seed"] for e in before]
    run = rollout_parallel(report["env"], report["objects"], policy_config(a.policy), seeds, workers=a.workers,
                           progress=True)  # fmt: skip
    after = run.summary()["per_episode"]
    same_steps = sum(x["steps"] == y["steps"] for x, y in zip(sorted(before, key=lambda e: e["seed"]),
                                                              sorted(after, key=lambda e: e["seed"])))  # fmt: skip
    k_before, k_after = sum(e["success"] for e in before), sum(e["success"] for e in after)
    d = paired_difference(after, before)
    out = {"policy": a.policy, "paired_with": a.policy_name, "reports": a.reports, "episodes": len(seeds),
           "success_before": k_before / len(seeds), "success_after": k_after / len(seeds),
           "ci95_after": wilson_interval(k_after, len(seeds)), "paired": d, "same_steps": same_steps,
           "per_episode": after}  # fmt: skip
    json.dump(out, open(a.out, "w"), indent=1)
    print({k: v for k, v in out.items() if k != "per_episode"})


if __name__ == "__main__":
    main()
