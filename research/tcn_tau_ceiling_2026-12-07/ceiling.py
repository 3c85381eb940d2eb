"""How high can Kendall's tau between held-out episodes go on this data, for an embedding that knows the state exactly?

Tau (TCC protocol, robolearn.evaluation.embedding.video_tau) computed on ground-truth labels instead of an embedding:
if even the simulator's own state gives a low tau, the 0.9 bar measures the motions, not the network.
Usage: python research/tcn_tau_ceiling_2026-12-07/ceiling.py out/tcn_experiment/data/kuka_test
"""

import sys

import numpy as np

from robolearn.data.info import dataset_stores
from robolearn.envs.motion import MOTIONS
from robolearn.evaluation.embedding import ORDERED_MOTIONS, tau_between_episodes


def standardise(feats):
    allf = np.concatenate(feats)
    mu, sd = allf.mean(0), allf.std(0) + 1e-9
    return [(f - mu) / sd for f in feats]


def main(url):
    eps = [s.episode(k) for s in dataset_stores(url) for k in range(s.n_episodes)]
    motions = [int(e["motion"]) for e in eps]
    T = len(eps[0]["joints"])
    obj_z = lambda e: e["objects"][:, :, 2]  # noqa: E731  (every object's height)
    variants = {
        "joints": lambda e: e["joints"],
        "grasp point xyz": lambda e: e["tip"][:, :3],
        "grasp point + gripper": lambda e: np.c_[e["tip"][:, :3], e["gripper"]],
        "grasp point + gripper + object heights": lambda e: np.c_[e["tip"][:, :3], e["gripper"], obj_z(e)],
        "joints + gripper + object poses": lambda e: np.c_[
            e["joints"], e["gripper"], e["objects"][:, :, :3].reshape(T, -1)
        ],
        "grasp point height + gripper": lambda e: np.c_[e["tip"][:, 2], e["gripper"]],
        "grasp point height + gripper + objects' displacement": lambda e: np.c_[
            e["tip"][:, 2], e["gripper"], (e["objects"][:, :, :3] - e["objects"][:1, :, :3]).reshape(T, -1)
        ],
        "phase": lambda e: e["phase"][:, None].astype(float),
        "phase + gripper + object heights": lambda e: np.c_[e["phase"], e["gripper"], obj_z(e)],
        "time itself (t / T)": lambda e: np.arange(len(e["joints"]))[:, None] / T,
    }
    print(f"\n{url}: {len(eps)} episodes of {T} frames; motions {sorted({MOTIONS[m] for m in motions})}")
    print(
        "| features (standardised) | "
        + " | ".join(MOTIONS[m] for m in sorted(set(motions)))
        + " | grasp and push (the bar's mean) |"
    )
    print("|---" * (len(set(motions)) + 2) + "|")
    for name, f in variants.items():
        feats = standardise([np.asarray(f(e), np.float64) for e in eps])
        feats = [x[:, None, :] for x in feats]  # one 'view'
        taus = tau_between_episodes(feats, motions, [0], max_pairs=400)
        bar = np.mean([taus[MOTIONS.index(m)] for m in ORDERED_MOTIONS])
        print(f"| {name} | " + " | ".join(f"{taus[m]:.2f}" for m in sorted(taus)) + f" | {bar:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1])
