"""Shared by the benchmark scripts: replace one '## ' section of docs/BENCHMARKS.md, keep the rest."""

from __future__ import annotations

from pathlib import Path

HEADER = "# Benchmarks\n\nEach section is written by the command it names.\n\n"


def replace_section(path: Path, heading: str, text: str) -> None:
    """Put `text` (starting with `heading`, a '## ' line) in place of the section of that heading."""
    old = path.read_text() if path.exists() else HEADER
    title = heading.split(" (", 1)[0]  # the heading's date and command change from run to run; its title does not
    start = next((i for i in (old.find(heading), old.find(title + " (")) if i >= 0), -1)
    if start < 0:  # a new section goes at the end
        path.write_text(old.rstrip() + "\n\n" + text)
        return
    end = old.find("\n## ", start + 1)  # an existing one is replaced where it stands
    rest = "\n" + old[end + 1 :] if end >= 0 else ""
    path.write_text(old[:start] + text.rstrip() + "\n" + rest)


def publish(text: str, *, write: bool) -> None:
    """Print a section (its first line is the '## ' heading) and, with `write`, put it in docs/BENCHMARKS.md."""
    print(text)
    if write:
        replace_section(Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md", text.splitlines()[0], text)
