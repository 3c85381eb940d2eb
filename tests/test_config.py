from pathlib import Path

import pytest

from robolearn.config import ConfigError
from robolearn.envs import ENV_IDS, MOTION_ENV_IDS, load_env_config
from robolearn.envs.config import EnvConfig, make_config
from robolearn.envs.motion import make_motion_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("preset", sorted(set(ENV_IDS.values())))
def test_each_env_toml_equals_the_preset_of_its_id(preset):
    assert load_env_config(ROOT / "envs" / f"{preset}.toml") == make_config(preset)


@pytest.mark.parametrize("preset", sorted(MOTION_ENV_IDS.values()))
def test_each_motion_env_toml_equals_its_preset(preset):
    assert load_env_config(ROOT / "envs" / f"{preset}.toml") == make_motion_config(preset)


def test_kuka_diverse_preset_matches_kuka_diverse_object_env():
    c = make_config("kuka_diverse")
    assert (c.camera.width, c.camera.height) == (48, 48)
    assert c.camera.target == (0.23, 0.2, 0.54) and (c.camera.distance, c.camera.pitch, c.camera.yaw, c.camera.fov) == (
        1.0,
        -56,
        245,
        20,
    )
    assert c.task.max_steps == 8 and c.task.dv == 0.06 and c.task.height_hack and c.objects.count == 5
    assert c.task.success_height == 0.2 and c.physics.action_substeps == 80 and c.physics.solver_iterations == 150


BAD = [
    ("unknown key", "arm = 'kuka'\ncolour = 'red'\n", "unknown key 'colour'"),
    ("unknown nested key", "[camera]\nwidht = 64\n", "unknown key 'camera.widht'"),
    ("wrong type", "[camera]\nwidth = 'big'\n", "key 'camera.width'"),
    ("unknown arm", "arm = 'ur5'\n", "key 'arm': got 'ur5', allowed: 'kuka' or 'panda'"),
    ("object id out of range", "[objects]\nids = [3, 1200]\n", "object ids must be in 0-999, got 1200"),
    ("negative object count", "[objects]\ncount = -2\n", "key 'objects.count'"),
    ("not toml", "arm = \n", "not valid TOML"),
]


@pytest.mark.parametrize("name,text,message", BAD, ids=[b[0] for b in BAD])
def test_bad_env_files_give_one_line_naming_file_and_key(tmp_path, name, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_env_config(path)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


@pytest.mark.parametrize("name,text,message", BAD[:6], ids=[b[0] for b in BAD[:6]])
def test_cli_reports_bad_env_files_with_exit_code_2_and_no_traceback(tmp_path, run_cli, name, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run_cli("render", "--env", str(path), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_unknown_env_id_is_one_clear_line(run_cli):
    result = run_cli("eval", "--env", "robolearn/Nope-v0", "-n", "1")
    assert result.returncode == 2 and "neither a registered id" in result.stderr and "Traceback" not in result.stderr


def test_config_defaults_validate():
    assert EnvConfig().arm == "kuka"


def test_a_policy_written_as_toml_reads_back_the_same(tmp_path):
    from robolearn.policies.registry import PolicyConfig, policy_config, policy_toml

    servo = PolicyConfig(name="cem", checkpoint=str(tmp_path / "a b"), ensemble=[str(tmp_path / 'c"d')],
                         mirror_average=False, cem={"samples": 256, "elites": 16, "commit_steps": 4})  # fmt: skip
    path = tmp_path / "servo.toml"
    path.write_text(policy_toml(servo, "written by a test\nsecond line"))
    assert path.read_text().startswith("# written by a test\n# second line\n")
    assert policy_config(str(path)) == servo
    assert policy_config(str(path)).cem.samples == 256 and PolicyConfig().cem.samples != 256
