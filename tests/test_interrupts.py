"""Ctrl-C and SIGTERM: a long job stops with one line (what was kept, how to go on) and exit 130 / 143, never a
traceback; a resumed job completes with nothing lost or duplicated."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_collect import episodes_by_index, write_campaign

ROOT = Path(__file__).resolve().parents[1]


def start(*args: str) -> subprocess.Popen:
    """`robolearn ARGS` in its own process group, as a shell runs a foreground job (Ctrl-C reaches the group)."""
    return subprocess.Popen([sys.executable, "-m", "robolearn.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_sigint)  # fmt: skip


def default_sigint() -> None:
    """Ctrl-C's default for the job, as a terminal's foreground job has it: a shell starts background jobs (`make
    test &`) with SIGINT ignored, and Python then never turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out waiting for the job to get going"
        time.sleep(0.1)


def stop(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    os.killpg(proc.pid, sig) if sig == signal.SIGINT else os.kill(proc.pid, sig)  # Ctrl-C: the group; kill: one
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def last_line(err: str) -> str:
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.strip().splitlines() if line.strip() and "\r" not in line and "it/s" not in line]
    return lines[-1]


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_collect_stops_on_a_signal_and_resumes(tmp_path, sig, code, run_cli):
    campaign = write_campaign(tmp_path, episodes=16)
    proc = start("collect", str(campaign))
    wait_for(lambda: len(episodes_by_index(tmp_path / "ds")) >= 2)
    rc, err = stop(proc, sig)
    kept = len(episodes_by_index(tmp_path / "ds"))
    assert rc == code and 2 <= kept < 16
    line = last_line(err)
    assert line.startswith("interrupted: ") and f"{kept} of 16 episodes are kept" in line and "--resume" in line
    done = run_cli("collect", str(campaign), "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(episodes_by_index(tmp_path / "ds")) == list(range(16))  # every index once


def test_train_stops_on_ctrl_c_and_resumes(tmp_path, run_cli):
    from robolearn.data.synthetic import write_moving_shape_store

    write_moving_shape_store(tmp_path / "mv.zarr", episodes=8, views=2, size=16)
    config = tmp_path / "tcn.toml"
    config.write_text('kind = "tcn"\nsteps = 400\neval_every = 400\ncheckpoint_every = 5\nlog_every = 5\n'
                      "[model]\nimage_size = 16\nchannels = [8]\nstrides = [2]\nfc = 16\nembedding = 4\n"
                      "[data]\nepisodes = 2\nwindow = 4\nholdout = 0.0\n")  # fmt: skip
    args = ("train", str(config), "--store", str(tmp_path / "mv.zarr"), "--out", str(tmp_path / "run"))
    proc = start(*args)
    wait_for(lambda: (tmp_path / "run" / "checkpoints" / "step-0000010").is_dir())
    rc, err = stop(proc, signal.SIGINT)
    line = last_line(err)
    assert rc == 130 and line.startswith("interrupted: the checkpoints up to step-") and "--resume" in line
    assert not (tmp_path / "run" / "summary.json").exists()
    done = run_cli(*args, "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 400 and 10 <= summary["resumed_from"] < 400


def test_eval_stops_on_ctrl_c_and_resumes(tmp_path, run_cli):
    out = tmp_path / "eval"
    args = ["eval", "--env", "robolearn/GraspKuka-v0", "--policy", "random", "--episodes", "80", "--workers", "2",
            "--out", str(out)]  # fmt: skip
    proc = start(*args)
    journal = out / "episodes.jsonl"
    wait_for(lambda: journal.is_file() and len(journal.read_text().splitlines()) >= 3)  # header + 2 chunks
    rc, err = stop(proc, signal.SIGINT)
    assert rc == 130
    line = last_line(err)
    assert line.startswith("interrupted: finished episodes kept in") and "--resume" in line
    assert not (out / "report.json").exists()
    kept = {e["seed"]: e for row in journal.read_text().splitlines()[1:] for e in json.loads(row)["episodes"]}
    assert 20 <= len(kept) < 80
    done = run_cli(*args, "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    episodes = json.loads((out / "report.json").read_text())["per_episode"]
    assert [e["seed"] for e in episodes] == list(range(1_000_000, 1_000_080))  # each seed once, in order
    assert all(e == kept[e["seed"]] for e in episodes if e["seed"] in kept)  # kept, not played again
    other = run_cli(*args[:4], "oracle", *args[5:], "--resume")  # another policy: not this evaluation
    assert other.returncode == 2 and "is a different evaluation" in other.stderr.strip().splitlines()[-1]



def test_eval_journal_drops_a_line_cut_short_and_plays_it_again(tmp_path):
    from robolearn.evaluation.compare import CHUNK, evaluate_policies
    from robolearn.policies.registry import PolicyConfig

    seeds, configs = range(7, 7 + CHUNK + 3), {"random": PolicyConfig(name="random")}
    journal = tmp_path / "episodes.jsonl"
    whole, _ = evaluate_policies("robolearn/GraspKuka-v0", configs, seeds, progress=False, journal=journal)
    header, first, second = journal.read_text().splitlines()  # two chunks: CHUNK episodes, then 3
    journal.write_text(f"{header}\n{first}\n{second[: len(second) // 2]}")  # killed while writing the second
    resumed, _ = evaluate_policies("robolearn/GraspKuka-v0", configs, seeds, progress=False, journal=journal,
                                   resume=True)  # fmt: skip
    assert [e["seed"] for e in resumed["random"]["per_episode"]] == list(seeds)
    strip = lambda eps: [{k: v for k, v in e.items() if k != "seconds"} for e in eps]  # noqa: E731
    assert strip(resumed["random"]["per_episode"]) == strip(whole["random"]["per_episode"])
    assert len(journal.read_text().splitlines()) == 3  # the cut line replaced by the replayed chunk
