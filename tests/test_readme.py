"""The README's quickstart runs as written, at tiny scale: its own command lines, with smaller counts and a temporary
folder for out/quick."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = {"--episodes": "12", "--steps": "3", "-n": "2"}


def quickstart_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- quickstart:", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_quickstart_runs_as_written(tmp_path, run_cli):
    lines = quickstart_lines()
    assert [shlex.split(line)[1] for line in lines] == ["collect", "collect", "train", "eval"]
    for line in lines:
        args = shlex.split(line.replace("out/quick", str(tmp_path / "quick")))
        assert args[0] == "robolearn"
        for i, arg in enumerate(args[:-1]):
            if arg in TINY:
                assert re.fullmatch(r"\d+", args[i + 1]), line
                args[i + 1] = TINY[arg]
        result = run_cli(*args[1:], timeout=600)
        assert result.returncode == 0, f"{line}\n{result.stderr[-2000:]}"
    assert (tmp_path / "quick" / "eval" / "comparison.md").read_text().count("|") > 4
