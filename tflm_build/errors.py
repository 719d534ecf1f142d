"""One exception family for everything a user can get wrong.

Every message says where (file, line, key), what was expected (the valid
choices or the closest match) and what to do.  The SCons entry point and the
CLI catch :class:`TflmBuildError`, print :meth:`TflmBuildError.render` and exit
with status 2, so a user never sees a Python traceback for bad input.
"""
from __future__ import annotations

import difflib
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

USAGE_EXIT = 2


@dataclass
class TflmBuildError(Exception):
    """A problem the user can fix; rendered as one clear message."""

    message: str
    file: Path | str | None = None
    line: int | None = None
    key: str | None = None
    choices: Sequence[str] = field(default_factory=tuple)
    fix: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        text = f"tflm-build: error: {where}{self.message}"
        if self.key:
            text += f" (key '{self.key}')"
        if self.choices:
            text += "\n  valid choices: " + ", ".join(self.choices)
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class ConfigError(TflmBuildError):
    """A bad variable, goal, YAML file or missing tool."""


class FetchError(TflmBuildError):
    """A dependency could not be downloaded, verified or extracted."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """Return the closest spelling of ``word`` among ``choices``, if any is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_choice(kind: str, value: str, choices: Iterable[str], **where: object) -> ConfigError:
    """Build the standard 'unknown X' error with the valid choices and a suggestion."""
    options = sorted(choices)
    near = closest(value, options)
    fix = f"did you mean '{near}'?" if near else f"use one of the valid choices for {kind}"
    return ConfigError(f"unknown {kind} '{value}'", choices=options, fix=fix, **where)  # type: ignore[arg-type]


class _BoundedRepr(reprlib.Repr):
    """reprlib, also for dict and list subclasses (our LocDict), which plain reprlib renders unbounded."""

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, dict) and type(x) is not dict:
            return self.repr_dict(x, level)
        if isinstance(x, list) and type(x) is not list:
            return self.repr_list(x, level)
        return super().repr1(x, level)


_BRIEF = _BoundedRepr()
_BRIEF.maxstring = _BRIEF.maxother = 80
_BRIEF.maxlevel, _BRIEF.maxlist, _BRIEF.maxdict = 2, 4, 4


def shorten(value: Any) -> str:
    """A repr of ``value`` for a message: one line, at most ~200 characters, whatever its size.

    Values come from files we do not control (a YAML alias bomb expands to
    billions of items, an archive member name can hold a newline): a message
    quoting them whole could take minutes and gigabytes, or span lines.
    """
    return clip(_BRIEF.repr(value))


def clip(text: str, limit: int = 200) -> str:
    """``text`` on one line and at most ``limit`` characters: for reasons quoted from exceptions."""
    text = " ".join(text.splitlines())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def user_path(value: str, variable: str) -> Path:
    """``value`` with ``~`` / ``~user`` expanded; an unknown user is a ConfigError naming ``variable``.

    pathlib raises a bare RuntimeError for ``~nosuchuser/x``, which would
    reach the user as a traceback.
    """
    try:
        return Path(value).expanduser()
    except RuntimeError:
        raise ConfigError(f"{variable}={shorten(value)}: cannot expand '~' (no such user, or no home folder)",
                          key=variable, fix=f"give {variable} a full path") from None
