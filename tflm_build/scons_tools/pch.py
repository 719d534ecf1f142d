"""Tool: one precompiled header per compile group (core, kernels, third-party; per language), where it pays.

Most of a TFLM compile is the front end reading the same headers again
(schema_generated.h, flatbuffers, the kernel utilities).  Each group of
objects compiled with the same flags gets a header of what its sources
include most (:mod:`tflm_build.build.pch_select`), compiled once with exactly the
group's flags (``-x c++-header``), and its users are compiled with
``-include <header> -Winvalid-pch``: gcc and clang then load the compiled
form instead of parsing.  A PCH is built per group because a PCH is used only
by compiles with the same flags (kernels are -O2, the core -Os).

Dependencies: each user depends on a small stamp of the header set
(``tflm_pch.h.deps``: the content signatures of the generated header and of
every header it includes, as :mod:`~tflm_build.build.pch_select` follows
them, whatever the ``#if``s), so editing one of those headers rebuilds its
users, and nothing else; the compiled header, scanned like a source, depends
on them too and is built before its users (``Requires``).

Whether a build uses a group's compiled header is decided once every node is
declared (``PCH=auto``, the default): only when at least MIN_USERS of its users
are part of this build, or the compiled header is already there; ``PCH=1``
uses every group's.  Building gcc's takes as long as ~4
compiles, and each user saves ~2 s: a model-aware program with three kernels
compiles them without it.  The ``-include`` flags are kept out of the build
signature (``$( $)``) for that: an object is the same with or without the
compiled header, so switching does not rebuild it.  Model-aware subsets choose
from the whole group, so they share objects with the full library.

Launchers: ccache gets ``sloppiness=pch_defines,time_macros`` in the command
environment and ``-fpch-preprocess`` (outside the build signature); under
distcc or icecc the PCH is off, since remote hosts do not have it (and would
compile the whole text anyway).  With CACHE_DIR the compiled header is cached
like any object.  ``PCH=0`` turns it all off (no stamp either: objects are compiled again).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..build.pch_select import Choice, ChoiceCache
from ..files import write_atomic

_REMOTE_LAUNCHERS = ("distcc", "icecc")
_CCACHE_SLOPPINESS = ("pch_defines", "time_macros")
_LANGUAGES = {".c": "c", ".cc": "cxx", ".cpp": "cxx", ".cxx": "cxx"}
MIN_USERS = 8  # a group's compiled header is built for a build with at least this many of its users


def _write(target: Any, source: Any, env: Any) -> int:
    Path(str(target[0])).write_text(source[0].read())
    return 0


def _stamp_headers(target: Any, source: Any, env: Any) -> int:
    """The content signatures of the generated header and of every header it includes: changes when one does.

    Signatures only, no paths: two checkouts at different paths share the objects in CACHE_DIR.
    """
    write_atomic(Path(str(target[0])), "".join(f"{node.get_csig()}\n" for node in source))
    return 0


def _enabled(env: Any, wanted: bool) -> bool:
    """PCH is not 0 and the launcher compiles here (not distcc / icecc)."""
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
    on = _enabled(env, env["TFLM_PCH"] != "0")
    env["TFLM_PCH_GROUPS"] = Groups(Path(env["TFLM_GEN"]), family, always=env["TFLM_PCH"] == "1") if on else None
    if not on:
        return
    # clang records the headers' mtimes in its PCH and rejects it after a CacheDir restore without this.
    env["TFLM_PCH_STAMP"] = "-Xclang -fno-pch-timestamp" if family == "clang" else ""
    scanner = CScanner()
    env["BUILDERS"]["TflmPchHeader"] = Builder(action=Action(_write, None))
    env["BUILDERS"]["TflmPchStamp"] = Builder(action=Action(_stamp_headers, None))
    for name, com, flags, lang in (("TflmPchCxx", "CXXCOM", "$CXXFLAGS", "c++-header"),
                                   ("TflmPchC", "CCCOM", "$CFLAGS", "c-header")):
        # The group's own command (launcher and all), compiling a header: the same flags as its users.
        env[f"TFLM_PCH_{com}"] = env[com].replace(flags, f"-x {lang} $TFLM_PCH_STAMP {flags}", 1)
        env["BUILDERS"][name] = Builder(action=Action(f"$TFLM_PCH_{com}", "$TFLM_PCH_COMSTR"),
                                        source_scanner=scanner)
    if Path(env.get("TFLM_LAUNCHER") or "").name == "ccache":
        current = [s for s in env["ENV"].get("CCACHE_SLOPPINESS", "").split(",") if s]
        env["ENV"]["CCACHE_SLOPPINESS"] = ",".join(dict.fromkeys([*current, *_CCACHE_SLOPPINESS]))
        env["TFLM_PCH_LAUNCHER_FLAGS"] = "-fpch-preprocess"


def objects(genv: Any, group: str, target: str, source: Path, members: Callable[[], Sequence[Path]]) -> Any:
    """Compile ``source`` of ``group`` to ``target`` with ``genv``, through the group's PCH when it uses one."""
    groups = genv.get("TFLM_PCH_GROUPS")
    user = groups.user(group, genv, source, members) if groups is not None else None
    if user is None:
        return genv.Object(target, str(source))
    nodes = user.env.Object(target, str(source))
    if groups.decided:  # declared late: uses the compiled header as decided
        user.attach(nodes)
    else:
        user.objects.extend(nodes)  # attached by decide()
    return nodes


def decide(env: Any) -> None:
    """Once every node is declared: which groups' compiled headers this build builds and uses."""
    groups = env.get("TFLM_PCH_GROUPS")
    if groups is not None:
        groups.decide()


@dataclass
class _Group:
    """One group's compiled header and the users this build declared."""

    choice: Choice
    sources: frozenset[str]  # the group's members
    env: Any = None  # the users' environment: None when the group has no compiled header
    stamp: Any = None
    compiled: Any = None
    flags: str = ""
    objects: list[Any] = field(default_factory=list)  # users declared before decide()
    on: bool = False  # this build builds and uses the compiled header

    def attach(self, nodes: list[Any]) -> None:
        """Users depend on the stamp, and are compiled after the compiled header when it is on."""
        self.env.Depends(nodes, self.stamp)
        if self.on:
            self.env.Requires(nodes, self.compiled)


class Groups:
    """The precompiled headers of one configuration, declared on first use."""

    def __init__(self, gen: Path, family: str, always: bool) -> None:
        self.gen = gen
        self.always = always  # PCH=1: every group with a header set, however few users this build has
        self.suffix = ".pch" if family == "clang" else ".gch"
        self.cache = ChoiceCache(gen / "pch" / "choices.json")
        self._groups: dict[tuple[str, str], _Group] = {}
        self.decided = False

    def user(self, group: str, genv: Any, source: Path, members: Callable[[], Sequence[Path]]) -> _Group | None:
        """The group whose PCH compiles ``source`` of ``group`` with ``genv``, or None: compiled without.

        ``members`` gives every source of the group (the whole library's, so that
        model-aware subsets and the full library share objects).
        """
        lang = _LANGUAGES.get(source.suffix)
        if lang is None:  # assembler
            return None
        key = (group, lang)
        if key not in self._groups:
            sources = [m for m in members() if _LANGUAGES.get(m.suffix) == lang]
            include_dirs = [Path(os.path.abspath(d)) for d in genv["CPPPATH"]]
            choice = self.cache.choose(f"{group}-{lang}", sources, include_dirs)
            self._groups[key] = _Group(choice, frozenset(str(m) for m in sources))
            if choice.headers:
                self._declare(genv, group, lang, self._groups[key])
        entry = self._groups[key]
        if entry.env is None:
            return None
        if str(source) in entry.sources:
            return entry if str(source) in entry.choice.users else None
        # A program's source compiled with the group's flags uses its PCH on the same conditions.
        include_dirs = [Path(os.path.abspath(d)) for d in genv["CPPPATH"]]
        return entry if self.cache.uses(f"{group}-{lang}", source, include_dirs, entry.choice) else None

    def _declare(self, genv: Any, group: str, lang: str, entry: _Group) -> None:
        """The header, its stamp, its compiled form, and the users' environment (``genv`` plus ``-include``)."""
        folder = self.gen / "pch" / f"{group}-{lang}"
        header = genv.TflmPchHeader(str(folder / "tflm_pch.h"), genv.Value(entry.choice.text()))
        entry.stamp = genv.TflmPchStamp(str(folder / "tflm_pch.h.deps"), [*header, *entry.choice.held])
        builder = genv.TflmPchCxx if lang == "cxx" else genv.TflmPchC
        entry.compiled = builder(str(folder / f"tflm_pch.h{self.suffix}"), header)
        entry.env = genv.Clone()
        entry.env["TFLM_PCH_FLAGS"] = ""  # until decide()
        entry.env.Append(CCFLAGS=["$(", "$TFLM_PCH_FLAGS", "$)"])
        entry.flags = f"-include {folder / 'tflm_pch.h'} -Winvalid-pch $TFLM_PCH_LAUNCHER_FLAGS"

    def decide(self) -> None:
        """Use a group's compiled header when MIN_USERS of its users are declared, it is already built, or PCH=1."""
        self.decided = True
        for entry in self._groups.values():
            if entry.env is None:
                continue
            entry.on = self.always or len(entry.objects) >= MIN_USERS or Path(str(entry.compiled[0])).is_file()
            if entry.on:
                entry.env["TFLM_PCH_FLAGS"] = entry.flags
            if entry.objects:
                entry.attach(entry.objects)


def exists(env: Any) -> bool:
    return True
