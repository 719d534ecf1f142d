"""Tool: one precompiled header per compile group (core, kernels, third-party; per language), on by default.

Most of a TFLM compile is the front end reading the same headers again
(schema_generated.h, flatbuffers, the kernel utilities).  Each group of
objects compiled with the same flags gets a header of what its sources
include most (:mod:`tflm_build.build.pch_select`), compiled once with exactly the
group's flags (``-x c++-header``), and its users are compiled with
``-include <header> -Winvalid-pch``: gcc and clang then load the compiled
form instead of parsing.  A PCH is built per group because a PCH is used only
by compiles with the same flags (kernels are -O2, the core -Os).

Dependencies: the compiled header is a node whose source is the generated
header, scanned like any source, so it depends on every header it contains;
each user depends on it.  Editing one of those headers rebuilds the PCH and
then its users, and nothing else.  Model-aware subsets link the same objects
as the full library: the header set is chosen from the whole group.

Launchers: ccache gets ``sloppiness=pch_defines,time_macros`` in the command
environment and ``-fpch-preprocess`` (outside the build signature); under
distcc or icecc the PCH is off, since remote hosts do not have it (and would
compile the whole text anyway).  With CACHE_DIR the compiled header is cached
like any object.  ``PCH=0`` turns it all off.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from ..build.pch_select import Choice, ChoiceCache, may_use

_REMOTE_LAUNCHERS = ("distcc", "icecc")
_CCACHE_SLOPPINESS = ("pch_defines", "time_macros")
_LANGUAGES = {".c": "c", ".cc": "cxx", ".cpp": "cxx", ".cxx": "cxx"}


def _write(target: Any, source: Any, env: Any) -> int:
    Path(str(target[0])).write_text(source[0].read())
    return 0


def _enabled(env: Any, wanted: bool) -> bool:
    """PCH=1 and the launcher compiles here (not distcc / icecc)."""
    launcher = Path(env.get("TFLM_LAUNCHER") or "").name
    return wanted and launcher not in _REMOTE_LAUNCHERS


def generate(env: Any) -> None:
    """Install the builders and $TFLM_PCH_GROUPS (None when off), from $TFLM_PCH, $TFLM_GEN and $TFLM_TOOLCHAIN.

    Runs after the cache tool, whose launcher ($TFLM_LAUNCHER) it reads.
    """
    from SCons.Action import Action
    from SCons.Builder import Builder
    from SCons.Scanner.C import CScanner

    env["TFLM_PCH_FLAGS"] = ""
    env["TFLM_PCH_LAUNCHER_FLAGS"] = ""
    family = env["TFLM_TOOLCHAIN"]
    on = _enabled(env, bool(env["TFLM_PCH"]))
    env["TFLM_PCH_GROUPS"] = Groups(Path(env["TFLM_GEN"]), family) if on else None
    if not on:
        return
    # clang records the headers' mtimes in its PCH and rejects it after a CacheDir restore without this.
    env["TFLM_PCH_STAMP"] = "-Xclang -fno-pch-timestamp" if family == "clang" else ""
    scanner = CScanner()
    env["BUILDERS"]["TflmPchHeader"] = Builder(action=Action(_write, None))
    for name, com, flags, lang in (("TflmPchCxx", "CXXCOM", "$CXXFLAGS", "c++-header"),
                                   ("TflmPchC", "CCCOM", "$CFLAGS", "c-header")):
        # The group's own command (launcher and all), compiling a header: the same flags as its users.
        env[f"TFLM_PCH_{com}"] = env[com].replace(flags, f"-x {lang} $TFLM_PCH_STAMP {flags}", 1)
        env["BUILDERS"][name] = Builder(action=Action(f"$TFLM_PCH_{com}", "$TFLM_PCH_COMSTR"),
                                        source_scanner=scanner)
    if Path(env.get("TFLM_LAUNCHER") or "").name == "ccache":
        current = [s for s in env["ENV"].get("CCACHE_SLOPPINESS", "").split(",") if s]
        env["ENV"]["CCACHE_SLOPPINESS"] = ",".join(dict.fromkeys([*current, *_CCACHE_SLOPPINESS]))
        env["TFLM_PCH_LAUNCHER_FLAGS"] = "$( -fpch-preprocess $)"


def objects(genv: Any, group: str, target: str, source: Path, members: Callable[[], Sequence[Path]]) -> Any:
    """Compile ``source`` of ``group`` to ``target`` with ``genv``, through the group's PCH when it uses one."""
    groups = genv.get("TFLM_PCH_GROUPS")
    env = groups.env_for(group, genv, source, members) if groups is not None else genv
    nodes = env.Object(target, str(source))
    if env is not genv:
        env.Depends(nodes, env["TFLM_PCH_NODE"])
    return nodes


class Groups:
    """The precompiled headers of one configuration, declared on first use."""

    def __init__(self, gen: Path, family: str) -> None:
        self.gen = gen
        self.suffix = ".pch" if family == "clang" else ".gch"
        self.cache = ChoiceCache(gen / "pch" / "choices.json")
        self._users: dict[tuple[str, str], tuple[Choice, Any, frozenset[str]]] = {}

    def env_for(self, group: str, genv: Any, source: Path, members: Callable[[], Sequence[Path]]) -> Any:
        """The environment compiling ``source`` of ``group``: ``genv`` plus the group's PCH, if it uses one.

        ``members`` gives every source of the group (the whole library's, so that
        model-aware subsets and the full library share objects).
        """
        lang = _LANGUAGES.get(source.suffix)
        if lang is None:  # assembler
            return genv
        key = (group, lang)
        if key not in self._users:
            sources = [m for m in members() if _LANGUAGES.get(m.suffix) == lang]
            include_dirs = [Path(os.path.abspath(d)) for d in genv["CPPPATH"]]
            choice = self.cache.choose(f"{group}-{lang}", sources, include_dirs)
            uenv = self._declare(genv, group, lang, choice) if choice.headers else None
            self._users[key] = (choice, uenv, frozenset(str(m) for m in sources))
        choice, uenv, group_sources = self._users[key]
        if uenv is None:
            return genv
        if str(source) in group_sources:
            return uenv if str(source) in choice.users else genv
        # A program's source compiled with the group's flags uses its PCH on the same conditions.
        return uenv if may_use(source, [Path(os.path.abspath(d)) for d in genv["CPPPATH"]]) else genv

    def _declare(self, genv: Any, group: str, lang: str, choice: Choice) -> Any:
        """The header, its compiled form, and the users' environment (``genv`` plus ``-include``)."""
        folder = self.gen / "pch" / f"{group}-{lang}"
        header = genv.TflmPchHeader(str(folder / "tflm_pch.h"), genv.Value(choice.text()))
        builder = genv.TflmPchCxx if lang == "cxx" else genv.TflmPchC
        compiled = builder(str(folder / f"tflm_pch.h{self.suffix}"), header)
        uenv = genv.Clone()
        uenv["TFLM_PCH_FLAGS"] = f"-include {folder / 'tflm_pch.h'} -Winvalid-pch $TFLM_PCH_LAUNCHER_FLAGS"
        uenv.Append(CCFLAGS=["$TFLM_PCH_FLAGS"])
        uenv["TFLM_PCH_NODE"] = compiled
        return uenv


def exists(env: Any) -> bool:
    return True
