import json

import numpy as np
import pytest

from robolearn.envs import ENV_IDS, make_env
from robolearn.evaluation.report import comparison_table, paired_difference
from robolearn.evaluation.rollout import rollout, wilson_interval
from robolearn.policies.registry import make_policy


@pytest.mark.parametrize("env_id", sorted(i for i in ENV_IDS if not i.endswith("-v1")))
def test_oracle_grasps_test_objects_far_more_often_than_chance(env_id):
    """10 fixed-seed episodes of the oracle's plain grasp (no rehearsal: its own test follows): a broken oracle
    (near the random policy's ~20%) cannot reach 5. (The -v1 ids share v0's task code; scripts/bench_kuka_diverse_v1.py
    measures the oracle in them.)"""
    env = make_env(env_id, objects={"split": "test"})
    try:
        report = rollout(env, make_policy("oracle", env, rehearse=False), range(500, 510))
    finally:
        env.close()
    assert all(oid % 10 == 0 for e in report.episodes for oid in e.object_ids)  # test objects only
    assert report.successes >= 5, f"oracle grasped {report.successes}/10 on {env_id}"


def test_oracle_rehearsal_foretells_the_episode_and_rescues_a_failing_choice():
    """Seeds 510 and 516 of KukaDiverse-v0's test objects: the best-ranked object's grasp fails (rehearsed and
    played without rehearsal alike); the rehearsing oracle goes for another, as its rehearsal said, and succeeds."""
    from robolearn.envs.grasp_env import GraspEnv
    from robolearn.envs.task import OraclePolicy

    env = GraspEnv(preset="kuka_diverse", objects={"split": "test"})
    try:
        for seed in (510, 516):
            outcomes = {}
            for rehearse in (False, True):
                oracle = OraclePolicy(env, rehearse=rehearse)
                obs, _ = env.reset(seed=seed)
                oracle.reset()
                done = False
                while not done:
                    obs, _, terminated, truncated, info = env.step(oracle.act(obs))
                    done = terminated or truncated
                outcomes[rehearse] = (oracle.target, info["is_success"], oracle.predicted, oracle.rehearsals)
            plain_target, plain_success, _, _ = outcomes[False]
            target, success, predicted, rehearsals = outcomes[True]
            # the first rehearsal, of the plain oracle's choice, failed as the plain episode did
            assert not plain_success and rehearsals >= 2 and target != plain_target, (seed, outcomes)
            assert success and predicted, (seed, outcomes)
    finally:
        env.close()


def test_oracle_rehearses_only_when_it_acts_alone():
    from robolearn.envs.grasp_env import GraspEnv
    from robolearn.policies.registry import PolicyConfig

    env = GraspEnv(preset="kuka_diverse")
    try:
        assert make_policy("oracle", env).rehearse
        assert not make_policy(PolicyConfig(name="oracle", rehearse=False), env).rehearse
        mixed = make_policy(PolicyConfig(name="oracle", epsilon=0.3), env)  # random actions: no rehearsal
        assert not mixed.base.rehearse
    finally:
        env.close()


def test_wilson_interval():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    lo, hi = wilson_interval(18, 20)
    assert 0.68 < lo < 0.70 and 0.97 < hi < 0.98
    assert wilson_interval(5, 10)[0] == pytest.approx(1 - wilson_interval(5, 10)[1])
    # the interval holds the rate itself, exactly at 0 and n successes too (6 of 6 once put it 2e-16 outside,
    # and the report's success plot refused the negative error bar)
    for n in range(1, 120):
        for s in range(n + 1):
            lo, hi = wilson_interval(s, n)
            assert lo <= s / n <= hi, (s, n)


def _episodes(outcomes, first_seed=0):
    return [{"seed": first_seed + i, "success": bool(x)} for i, x in enumerate(outcomes)]


def test_paired_difference_matches_seeds_and_gives_a_paired_interval():
    a, b = _episodes([1, 1, 0, 1]), _episodes([1, 0, 0, 0])
    # per-seed differences 0, 1, 0, 1: mean 0.5, sample sd sqrt(1/3), half width 1.96 sqrt(1/3) / 2
    d, lo, hi = paired_difference(a, list(reversed(b)))  # matched by seed, not by position
    assert d == pytest.approx(0.5) and hi - d == pytest.approx(d - lo) == pytest.approx(1.96 * (1 / 3) ** 0.5 / 2)
    assert paired_difference(a, a) == (0.0, 0.0, 0.0)  # the same outcomes on every seed: no doubt at all
    with pytest.raises(ValueError, match="same episode seeds"):
        paired_difference(a, _episodes([1, 0, 0, 0], first_seed=1))


def test_comparison_table_gives_each_later_policy_its_paired_difference_from_the_first():
    def result(outcomes):
        return {"success_rate": sum(outcomes) / len(outcomes), "success_ci95": wilson_interval(sum(outcomes), len(outcomes)),
                "episodes": len(outcomes), "episodes_per_s": 1.0, "per_episode": _episodes(outcomes)}  # fmt: skip

    rows = comparison_table({"base": result([0, 0, 1, 1]), "better": result([1, 1, 1, 1])}).splitlines()
    assert "vs base, paired" in rows[0]
    assert rows[2].endswith("|  |") and "| better | 1.000 |" in rows[3] and "+0.500 (" in rows[3]


def test_compare_reads_reports_and_earlier_columns_on_the_same_seeds(tmp_path):
    import subprocess
    import sys

    script = "-m robolearn.cli compare".split()  # robolearn compare (was scripts/paired.py)
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"policies": {"new": {"per_episode": _episodes([1, 1, 0, 1])},
                                               "other": {"per_episode": _episodes([1, 1, 1, 1])}}}))  # fmt: skip
    earlier = tmp_path / "earlier" / "per_seed.csv"
    earlier.parent.mkdir()
    earlier.write_text("seed,old,shifted\n" + "".join(f"{s},{v},1\n" for s, v in zip(range(4), [1, 0, 0, 0])))
    run = subprocess.run([sys.executable, *script, str(report), "--earlier", f"{earlier}:old",
                          "--csv", str(tmp_path / "out.csv")], capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[2].startswith("| new | 75.0% |  | -25.0 (") and lines[3].startswith("| other | 100.0% | +25.0 (")
    assert lines[-2].startswith("| new | +50.0 (") and "vs old (earlier) (25.0%)" in lines[-4]
    assert (tmp_path / "out.csv").read_text().splitlines()[:2] == ["seed,new,other", "0,1,1"]
    bad = subprocess.run([sys.executable, *script, str(report), "--earlier", f"{earlier}:nope"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no column 'nope'" in bad.stderr


def test_compare_pools_runs_on_disjoint_seeds(tmp_path):
    import subprocess
    import sys

    script = "-m robolearn.cli compare".split()  # robolearn compare (was scripts/paired.py)
    reports = []
    for k, (a, b) in enumerate((([1, 1, 0, 1], [1, 0, 0, 0]), ([1, 1, 1, 1], [0, 1, 1, 0]))):
        reports.append(tmp_path / f"r{k}.json")
        reports[-1].write_text(json.dumps({"policies": {"a": {"per_episode": _episodes(a, first_seed=10 * k)},
                                                        "b": {"per_episode": _episodes(b, first_seed=10 * k)}}}))  # fmt: skip
    earlier = [tmp_path / f"earlier{k}" / "per_seed.csv" for k in range(2)]  # two results folders
    for k, col in enumerate(([0, 0, 0, 0], [1, 1, 1, 1])):
        earlier[k].parent.mkdir()
        earlier[k].write_text("seed,old\n" + "".join(f"{10 * k + i},{v}\n" for i, v in enumerate(col)))
    run = subprocess.run([sys.executable, *script, *map(str, reports), "--pool", "--earlier", str(earlier[0]),
                          "--earlier", str(earlier[1])], capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    # a: 7 of 8, b: 3 of 8; per seed a - b: 0 1 0 1 1 0 0 1; a - old: 1 1 0 1 0 0 0 0
    assert lines[2].startswith("| a | 87.5% |  | +50.0 (") and lines[3].startswith("| b | 37.5% |")
    assert "vs old (50.0%)" in lines[-4] and lines[-2].startswith("| a | +37.5 (")
    unpooled = subprocess.run([sys.executable, *script, *map(str, reports)], capture_output=True, text=True)
    assert unpooled.returncode == 2 and "same episode seeds" in unpooled.stderr  # a (r1.json) beside a: other seeds
    twice = subprocess.run([sys.executable, *script, str(reports[0]), str(reports[0]), "--pool"],
                           capture_output=True, text=True)  # fmt: skip
    assert twice.returncode == 2 and "repeats seeds" in twice.stderr and twice.stderr.count("\n") == 1


def test_cli_eval_writes_report_and_gif(tmp_path, run_cli):
    out, gif = tmp_path / "r.json", tmp_path / "e.gif"
    result = run_cli("eval", "--env", "robolearn/KukaDiverse-v0", "--policy", "random", "-n", "2",
                     "--json", str(out), "--gif", str(gif))  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["episodes"] == 2 and 0 <= report["success_rate"] <= 1 and len(report["per_episode"]) == 2
    assert set(report["ms_per_episode"]) == {"total", "physics", "rendering", "python"}
    assert gif.stat().st_size > 1000 and "success" in result.stdout


def test_cli_eval_on_several_processes_gives_the_same_episodes(tmp_path, run_cli):
    reports = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.json"
        result = run_cli("eval", "--policy", "random", "--policy", "oracle", "-n", "4", "--seed", "7",
                         "--workers", str(workers), "--json", str(out))  # fmt: skip
        assert result.returncode == 0, result.stderr
        reports.append(json.loads(out.read_text())["policies"])
    for name in ("random", "oracle"):
        one, two = ([{k: e[k] for k in ("seed", "success", "steps", "object_ids", "lifted_object_ids")}
                     for e in r[name]["per_episode"]] for r in reports)  # fmt: skip
        assert one == two and [e["seed"] for e in two] == [7, 8, 9, 10]


@pytest.mark.parametrize(
    "args,message",
    [
        (["eval", "-n", "0"], "--episodes: got 0"),
        (["eval", "-n", "1", "--workers", "0"], "--workers: got 0"),
        (["eval", "-n", "-3"], "--episodes: got -3"),
        (["eval", "--policy", "greedy", "-n", "1"], "unknown policy 'greedy'"),
        (["eval", "--objects", "val", "-n", "1"], "--objects: got 'val'"),
        (["eval", "-n", "1", "--json", "/nonexistent-dir/r.json"], "directory /nonexistent-dir does not exist"),
        (["render", "--size", "4"], "--size: got 4"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(run_cli, args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_cli_render_and_help(tmp_path, run_cli):
    png = tmp_path / "v.png"
    assert run_cli("render", "--env", "envs/panda.toml", "--size", "32", "-o", str(png)).returncode == 0
    assert png.stat().st_size > 500
    helptext = run_cli("--help").stdout
    assert "eval" in helptext and "render" in helptext and "envs" in helptext


def test_probe_aims_at_an_object_off_by_its_offset():
    """The probe's aim is a random object's grasp point moved by its per-episode offset; with no offset
    it is the oracle's aim at that object."""
    from robolearn.envs.grasp_env import GraspEnv
    from robolearn.envs.task import ProbePolicy, grasp_frame

    env = GraspEnv(preset="kuka_diverse")
    try:
        env.reset(seed=5)
        exact, noisy = ProbePolicy(env, aim_std=0.0, yaw_std=0.0), ProbePolicy(env, seed=1)
        targets = set()
        for k in range(12):
            for probe in (exact, noisy):
                probe.rng = np.random.default_rng(k)
                probe.reset()
                probe.act(None)
            assert exact.target == noisy.target  # same seed: same object
            centre, yaw, _, _ = grasp_frame(env.world, exact.target)
            np.testing.assert_allclose(exact.aim()[0], centre)
            np.testing.assert_allclose(noisy.aim()[0] - centre, noisy.offset[:2])
            assert abs(noisy.aim()[1] - yaw - noisy.offset[2]) < 1e-9 and np.abs(noisy.offset).max() > 0
            targets.add(exact.target)
    finally:
        env.close()
    assert len(targets) > 2  # a random object, not the best-ranked one


def test_diagnose_steps_counts_actions_before_the_grasp_over_pooled_reports(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = [str(Path(__file__).resolve().parents[1] / "research" / "diagnose_servo.py")]
    reports = []
    for k, episodes in enumerate(([(7, 1), (7, 1), (8, 0)], [(7, 0), (8, 1), (8, 0)])):
        reports.append(tmp_path / f"r{k}.json")
        per_episode = [{"seed": 10 * k + i, "steps": n, "success": bool(ok)} for i, (n, ok) in enumerate(episodes)]
        reports[-1].write_text(json.dumps({"policies": {"servo": {"per_episode": per_episode}}}))
    run = subprocess.run([sys.executable, *script, "steps", *map(str, reports)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    # 6 episodes: 3 of 7 actions (2 successful), 3 of 8 (1 successful)
    assert run.stdout.splitlines()[2] == "| servo | 6 | 50.0%, 66.7% | 50.0%, 33.3% |"
    twice = subprocess.run([sys.executable, *script, "steps", str(reports[0]), str(reports[0])],
                           capture_output=True, text=True)  # fmt: skip
    assert twice.returncode == 2 and "repeats seeds" in twice.stderr and twice.stderr.count("\n") == 1


def test_cli_basics_bare_version_and_options_blamed_by_name(tmp_path, run_cli):
    from robolearn.data.synthetic import write_blob_store

    bare = run_cli()
    assert bare.returncode == 0 and "Usage" in bare.stdout and not bare.stderr.strip()
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("robolearn ")
    config = tmp_path / "train.toml"
    config.write_text("steps = 5\n")
    steps = run_cli("train", str(config), "--steps", "0")
    assert steps.returncode == 2 and steps.stderr.strip() == "error: --steps: got 0, must be at least 1"
    videos = run_cli("eval", "--policy", "random", "-n", "1", "--videos", "2")
    assert videos.returncode == 2 and "give --out too" in videos.stderr and videos.stderr.count("\n") == 1
    write_blob_store(tmp_path / "blob.zarr", episodes=2)
    view = run_cli("view", str(tmp_path / "blob.zarr"), "--episode", "1", "--out", str(tmp_path / "new" / "views"))
    assert view.returncode == 0, view.stderr
    assert (tmp_path / "new" / "views" / "episode_1.mp4").stat().st_size > 0


def test_eval_out_keeps_an_earlier_report_unless_forced(tmp_path, run_cli):
    out = tmp_path / "eval"
    first = run_cli("eval", "--policy", "random", "-n", "2", "--out", str(out), "--videos", "2")
    assert first.returncode == 0, first.stderr
    report = (out / "report.json").read_text()
    assert len(list(out.glob("random_episode*.mp4"))) == 2
    again = run_cli("eval", "--policy", "oracle", "-n", "1", "--out", str(out))
    lines = [line for line in again.stderr.splitlines() if line.strip()]
    assert again.returncode == 2 and len(lines) == 1 and "already holds files" in lines[0] and "--force" in lines[0]
    assert (out / "report.json").read_text() == report  # nothing written over
    forced = run_cli("eval", "--policy", "oracle", "-n", "1", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert list(json.loads((out / "report.json").read_text())["policies"]) == ["oracle"]
    assert not list(out.glob("random_episode*.mp4"))  # the earlier run's videos went with its report
