"""Typed configuration: pydantic models that reject unknown keys, loaded from TOML.

Every experiment definition (envs/*.toml, collection/*.toml, policies/*.toml) is
validated against a model here or beside its component. A bad file gives one
`ConfigError` line naming the file, the key and what is allowed.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["CheckpointError", "Config", "ConfigError", "deep_merge", "load_toml", "read_toml", "validate"]


class Config(BaseModel):
    """Base of every config model: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ConfigError(ValueError):
    """A configuration problem, described in one line fit to show a user."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked, described in one line (robolearn.models.checkpoint raises it;
    defined here so that the CLI can catch it without importing torch)."""


C = TypeVar("C", bound=Config)


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in err["loc"]) or "<root>"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{loc}'"
    if kind == "literal_error":
        return f"key '{loc}': got {err['input']!r}, allowed: {err['ctx']['expected']}"
    return f"key '{loc}': {err['msg'].lower()} (got {err['input']!r})"


def validate(model: type[C], data: dict[str, Any], *, source: str = "config") -> C:
    """Validate `data` against `model`; raise ConfigError naming `source` and the first bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {_describe(errors[0])}{more}") from None


def read_toml(path: str | Path) -> dict[str, Any]:
    """The contents of a TOML file; ConfigError where it is missing or not TOML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_toml(path: str | Path, model: type[C], *, overrides: dict[str, Any] | None = None) -> C:
    """Read a TOML file, apply `overrides` (a nested dict) and validate it against `model`."""
    return validate(model, deep_merge(read_toml(path), overrides or {}), source=str(path))


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `overrides` merged in, recursing into nested dicts."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
