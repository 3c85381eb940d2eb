"""Shared by the benchmark scripts: replace one '## ' section of docs/BENCHMARKS.md, keep the rest."""

from __future__ import annotations

from pathlib import Path

HEADER = "# Benchmarks\n\nEach section is written by the command it names.\n\n"


def replace_section(path: Path, heading: str, text: str) -> None:
    """Put `text` (starting with `heading`, a '## ' line) in place of the section of that heading."""
    old = path.read_text() if path.exists() else HEADER
    start = old.find(heading)
    if start >= 0:
        end = old.find("\n## ", start + 1)
        old = old[:start] + old[end + 1 :] if end >= 0 else old[:start]
    path.write_text(old.rstrip() + "\n\n" + text)


def publish(text: str, *, write: bool) -> None:
    """Print a section (its first line is the '## ' heading) and, with `write`, put it in docs/BENCHMARKS.md."""
    print(text)
    if write:
        replace_section(Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md", text.splitlines()[0], text)
