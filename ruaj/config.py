"""Settings wiring: every package has one `BaseSettings` class; this loads them for commands."""

from __future__ import annotations

from typing import TypeVar

import pydantic
import pydantic_settings

Settings = TypeVar("Settings", bound=pydantic_settings.BaseSettings)


class UsageError(Exception):
    """The command line or the settings ask for something that cannot be done as asked."""


def describe(exc: pydantic.ValidationError, prefix: str = "RUAJ_") -> str:
    """One line naming each bad or missing environment variable and what is wrong with it."""
    problems = []
    for error in exc.errors():
        name = prefix + "_".join(str(part) for part in error["loc"]).upper()
        problem = "is not set" if error["type"] == "missing" else error["msg"]
        problems.append(f"{name} {problem}")
    return "; ".join(problems)


def load(cls: type[Settings]) -> Settings:
    """Instantiate a settings class from the environment, or fail naming what is wrong."""
    try:
        return cls()
    except pydantic.ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", "RUAJ_"))
        hint = ""
        if any(error["type"] == "missing" for error in exc.errors()):
            hint = " (set it, or run `ruaj dev up` for the embedded stack)"
        raise UsageError(f"settings: {describe(exc, prefix)}{hint}") from exc
