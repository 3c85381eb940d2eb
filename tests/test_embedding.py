"""Evaluating embeddings of multi-view motion: the metrics on constructed embeddings, the supervised baseline, and
`robolearn eval-embedding` end to end on a tiny collected dataset."""

import json
import math

import numpy as np
import pytest

from robolearn.collection.record import record_episode
from robolearn.data.store import EpisodeStore
from robolearn.envs.motion import make_motion_config
from robolearn.envs.motion_env import MotionEnv
from robolearn.evaluation.embedding import alignment_error, kendall_tau, pose_probe, video_tau


def test_kendall_tau_and_video_tau():
    t = np.arange(10)
    assert kendall_tau(t, t) == 1.0 and kendall_tau(t, t[::-1]) == -1.0
    assert abs(kendall_tau(t, np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8])) - (1 - 2 * 5 / 45)) < 1e-12
    # tau-b, as TCC computes it: frames sharing a nearest neighbour are ties, not disorder (4 of 6 pairs concordant,
    # 2 tied in y: 4 / sqrt(6 * 4)); a constant sequence has no order
    assert abs(kendall_tau(np.arange(4), np.array([0, 0, 1, 1])) - 4 / math.sqrt(24)) < 1e-12
    assert kendall_tau(np.arange(4), np.zeros(4)) == 0.0
    a = np.stack([np.cos(t / 3), np.sin(t / 3)], 1)  # a path that never comes back on itself
    assert video_tau(a, a) == 1.0 and video_tau(a, a[::-1]) == -1.0


def test_alignment_error_is_zero_for_time_and_large_for_nothing():
    t = np.arange(20, dtype=float)
    timed = [np.stack([t, t + 0.1], 1)[:, :, None]]  # (T, V=2, D=1): both views know the time
    assert alignment_error(timed, [(0, 1), (1, 0)]) == 0.0
    blind = [np.zeros((20, 2, 1))]  # every frame alike: the nearest is always the first
    assert alignment_error(blind, [(0, 1)]) == pytest.approx(np.arange(20).mean() / 20)


def test_pose_probe_recovers_a_linear_pose_and_not_noise():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(2000, 10)) * 0.1
    x = y @ rng.normal(size=(10, 32)) + 0.001 * rng.normal(size=(2000, 32))
    good = pose_probe(x[:1500], y[:1500], x[1500:], y[1500:], 0.1)
    bad = pose_probe(rng.normal(size=(1500, 32)), y[:1500], x[1500:], y[1500:], 0.1)
    assert good["frames"] == 150 and good["joints_rad"] < 0.01 and good["tip_cm"] < 1.0
    assert bad["joints_rad"] > 5 * good["joints_rad"] and bad["tip_cm"] > 5 * good["tip_cm"]


def write_motion_store(path, arm: str, seeds, views: int = 3, size: int = 16):
    env = MotionEnv(make_motion_config(f"motion_{arm}", rig={"views": views, "width": size, "height": size},
                                       fps=4.0, duration=3.0, objects={"count": 2}))  # fmt: skip
    schema = env.task.features()
    store = EpisodeStore.create(path, frame_features=schema.frames, episode_features=schema.values)
    for seed in seeds:
        store.add_episode(*record_episode(env, env.task.oracle(env), seed))
    env.close()


@pytest.fixture(scope="module")
def motion_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("motion")
    write_motion_store(root / "kuka_train.zarr", "kuka", range(12))
    write_motion_store(root / "kuka_test.zarr", "kuka", range(100, 106))
    write_motion_store(root / "panda_test.zarr", "panda", range(100, 106))
    return root


def tiny_tcn(tmp_path, loss: str):
    path = tmp_path / f"{loss}.toml"
    path.write_text(f'kind = "tcn"\nloss = "{loss}"\nsteps = 30\neval_every = 30\ncheckpoint_every = 30\n'
                    'log_every = 10\n[model]\nimage_size = 16\nchannels = [16, 16]\nstrides = [1, 2]\nfc = 32\n'
                    "embedding = 8\n[data]\nepisodes = 3\nwindow = 4\nholdout = 0.0\nviews = [0, 1]\n"
                    "[optim]\nlr = 3e-3\nwarmup_steps = 3\n")  # fmt: skip
    return path


def test_eval_embedding_reports_every_embedder_and_refuses_bad_input(motion_data, tmp_path, run_cli):
    store = str(motion_data / "kuka_train.zarr")
    for loss in ("npairs", "supervised"):
        r = run_cli("train", str(tiny_tcn(tmp_path, loss)), "--store", store, "--out", str(tmp_path / loss))
        assert r.returncode == 0, r.stderr[-2000:]
    sup = json.loads((tmp_path / "supervised" / "checkpoints" / "step-0000030" / "config.json").read_text())
    assert sup["config"]["pose_outputs"] == 10  # 7 joint angles and the grasp point
    losses = [json.loads(line) for line in (tmp_path / "supervised" / "metrics.jsonl").read_text().splitlines()]
    out = tmp_path / "eval"
    args = ["eval-embedding", str(motion_data / "kuka_test.zarr"), "--train-store", store, "--cross-store",
            str(motion_data / "panda_test.zarr"), "--held-out-view", "2", "--out", str(out)]  # fmt: skip
    ck = ["-c", f"tcn={tmp_path / 'npairs' / 'checkpoints' / 'step-0000030'}",
          "-c", f"supervised={tmp_path / 'supervised' / 'checkpoints' / 'step-0000030'}"]  # fmt: skip
    r = run_cli(*args, *ck)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert list(report["embedders"]) == ["tcn", "supervised", "untrained", "pixels"] and losses
    for name, rep in report["embedders"].items():
        assert 0 <= rep["alignment_error"] < 1 and 0 <= rep["alignment_error_held_out_views"] < 1, name
        assert rep["kendall_tau"] is None or -1 <= rep["kendall_tau"] <= 1
        assert set(rep["probe"]) == {"0.01", "0.1", "1"} and rep["probe"]["1"]["tip_cm"] > 0
        assert rep["cross_arm"]["episodes"] == 6  # paired by seed: the same paths, the same cameras
    assert (out / "pca_tcn.png").stat().st_size > 0 and (out / "alignment_supervised.mp4").stat().st_size > 0
    assert "| tcn |" in (out / "table.md").read_text()

    def one_line(result, fragment):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and fragment in lines[0], result.stderr[-2000:]

    one_line(run_cli(*args, *ck), "already holds files")  # the earlier report is kept
    assert json.loads((out / "report.json").read_text()) == report
    one_line(run_cli(*args[:-1], str(tmp_path / "e2"), "--held-out-view", "5"), "the store holds views 0-2")
    one_line(run_cli(*args[:-1], str(tmp_path / "e2"), "-c", "nonsense"), "expected NAME=DIR")
    from robolearn.data.synthetic import write_blob_store

    write_blob_store(tmp_path / "single.zarr", episodes=2)
    one_line(run_cli("eval-embedding", str(tmp_path / "single.zarr"), "--out", str(tmp_path / "e3")),
             "not a multi-view motion store")  # fmt: skip
    assert not (tmp_path / "e2").exists() and not (tmp_path / "e3").exists()


def test_the_experiment_judges_its_bars_on_the_means_over_seeds():
    from robolearn.workflows.tcn import judge, results_markdown, summarize

    def report(align, tau, probe):
        p = {"joints_rad": probe, "tip_cm": 100 * probe}
        return {"alignment_error": align, "alignment_error_held_out_views": 1.1 * align, "kendall_tau": tau,
                "probe": {"0.01": p, "0.1": p, "1": p}}  # fmt: skip

    seeds = [{"tcn": report(0.05 + 0.01 * s, 0.95, 0.02), "single_view": report(0.2, 0.5, 0.1),
              "supervised": report(0.1, 0.7, 0.015), "untrained": report(0.3, 0.1, 0.2),
              "pixels": report(0.25, 0.2, 0.05)} for s in range(3)]  # fmt: skip
    table = summarize(seeds)
    assert table["tcn"]["alignment error, seen views"]["mean"] == pytest.approx(0.06)
    assert table["tcn"]["alignment error, seen views"]["n"] == 3
    bars = judge(table)
    assert all(b["holds"] for b in bars), bars
    seeds[1]["tcn"]["kendall_tau"] = 0.6  # one seed's tau pulls the mean under 0.9
    bars = {b["bar"]: b for b in judge(summarize(seeds))}
    assert not bars["Kendall's tau >= 0.9"]["holds"]
    assert bars["Kendall's tau >= 0.9"]["value"] == pytest.approx((0.95 + 0.6 + 0.95) / 3)
    del seeds[0]["tcn"]["kendall_tau"], seeds[1]["tcn"]["kendall_tau"], seeds[2]["tcn"]["kendall_tau"]
    text = results_markdown(summarize(seeds), judge(summarize(seeds)), 3, 12.0)
    assert "| Kendall's tau >= 0.9 | – | – | not measured |" in text


@pytest.mark.expensive
def test_reproduce_tcn_runs_from_nothing_and_continues(tmp_path, run_cli):
    out = tmp_path / "exp"
    r = run_cli("reproduce-tcn", "--scale", "0.01", "--seeds", "1", "--out", str(out), timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results["table"]) == {"tcn", "single_view", "supervised", "tcn_both_arms", "untrained", "pixels"}
    trained = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")}
    assert len(trained) == 4  # tcn, single_view, supervised, tcn_both_arms
    again = run_cli("reproduce-tcn", "--scale", "0.01", "--seeds", "1", "--out", str(out))
    assert again.returncode == 0 and "collected" not in again.stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")} == trained  # nothing retrained
