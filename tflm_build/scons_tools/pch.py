"""Tool: one precompiled header per compile group (core, kernels, third-party; per language), where it pays.

Most of a TFLM compile is the front end reading the same headers again
(schema_generated.h, flatbuffers, the kernel utilities).  Each group of
objects compiled with the same flags gets a header of what its sources
include most (:mod:`tflm_build.build.pch_select`), compiled once with exactly the
group's flags (``-x c++-header``), and its users are compiled with
``-include <header> -Winvalid-pch``: gcc and clang then load the compiled
form instead of parsing.  A PCH is built per group because a PCH is used only
by compiles with the same flags (kernels are -O2, the core -Os).

Dependencies: the build signature of each user holds a digest of the header
set (the generated header's text and the contents of every header it includes,
as :mod:`~tflm_build.build.pch_select` follows them, whatever the ``#if``s;
kept with the choice, made again when any file the choice read changes), and
the compiled header depends on the same digest (a Value).  Editing one of those
headers rebuilds the compiled header and its users, and nothing else; the
compiled header is built before its users (a prerequisite, as ``Requires`` makes).
No file is scanned or stamped for it at a no-op, and a user has no extra
dependency node.  Since the digest stands for those headers, a user's scan
leaves them out of its implicit dependencies (the headers it includes outside
the set stay): a no-op build then checks up to 65 fewer per user (the kernels'
set on the host), and is faster than with ``PCH=0``.

Whether a build uses a group's compiled header is decided once every node is
declared (``PCH=auto``, the default): only when at least MIN_USERS of its users
are part of this build, or the compiled header is already there; ``PCH=1``
uses every group's.  Building gcc's takes as long as ~4 compiles, and each
user saves ~2 s: a model-aware program with three kernels compiles them
without it.  The ``-include`` flags are kept out of the build signature for
that (they come from a callable construction variable, $TFLM_PCH_FLAGS, that
gives the digest instead for the signature): an object is the same with or
without the compiled header, so switching does not rebuild it.  Model-aware subsets
choose from the whole group, so they share objects with the full library.

Launchers: ccache gets ``sloppiness=pch_defines,time_macros`` in the command
environment and ``-fpch-preprocess`` (outside the build signature); under
distcc or icecc the PCH is off, since remote hosts do not have it (and would
compile the whole text anyway).  With CACHE_DIR the compiled header is cached
like any object.  ``PCH=0`` turns it all off (no digest either: its users are compiled again).
"""
from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from SCons.Builder import CompositeBuilder
from SCons.Scanner import ScannerBase
from SCons.Tool import CScanner
from SCons.Util import Proxy

from ..build.pch_select import Choice, ChoiceCache
from ..files import write_atomic

_REMOTE_LAUNCHERS = ("distcc", "icecc")
_CCACHE_SLOPPINESS = ("pch_defines", "time_macros")
_LANGUAGES = {".c": "c", ".cc": "cxx", ".cpp": "cxx", ".cxx": "cxx"}
MIN_USERS = 8  # a group's compiled header is built for a build with at least this many of its users


def _write(target: Any, source: Any, env: Any) -> int:
    """The generated header, from its Value."""
    write_atomic(Path(str(target[0])), source[0].read())
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

    env["TFLM_PCH_FLAGS"] = ""
    env["TFLM_PCH_LAUNCHER_FLAGS"] = ""
    family = env["TFLM_TOOLCHAIN"]
    on = _enabled(env, env["TFLM_PCH"] != "0")
    groups = Groups(Path(env["TFLM_GEN"]), family, always=env["TFLM_PCH"] == "1") if on else None
    env["TFLM_PCH_GROUPS"] = groups
    if groups is None:
        return
    # Every compile asks which compiled header its object uses (none, mostly): one environment for a
    # group's users and the rest, so a no-op build warms no second set of SCons's per-environment caches.
    env["TFLM_PCH_FLAGS"] = groups.flags_for  # a callable variable: SCons calls it, no expression to evaluate
    for com in ("CXXCOM", "CCCOM"):
        env[com] = env[com].replace("$CCFLAGS", "$CCFLAGS $TFLM_PCH_FLAGS", 1)
    # clang records the headers' mtimes in its PCH and rejects it after a CacheDir restore without this.
    env["TFLM_PCH_STAMP"] = "-Xclang -fno-pch-timestamp" if family == "clang" else ""
    unscanned = ScannerBase(lambda node, env, path: [], "no-scan")  # its headers: the digest (a Value) says
    env["BUILDERS"]["TflmPchHeader"] = Builder(action=Action(_write, None))
    for name, com, flags, lang in (("TflmPchCxx", "CXXCOM", "$CXXFLAGS", "c++-header"),
                                   ("TflmPchC", "CCCOM", "$CFLAGS", "c-header")):
        # The group's own command (launcher and all), compiling a header: the same flags as its users.
        env[f"TFLM_PCH_{com}"] = env[com].replace(flags, f"-x {lang} $TFLM_PCH_STAMP {flags}", 1)
        env["BUILDERS"][name] = Builder(action=Action(f"$TFLM_PCH_{com}", "$TFLM_PCH_COMSTR"),
                                        source_scanner=unscanned)
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
    nodes = user.builder(genv, target, str(source))
    groups.add_users(user, nodes)
    return nodes


def _user_builder(genv: Any, held: frozenset[str]) -> Any:
    """The Object builder, but its scan leaves out the headers the digest stands for (``held``).

    A user's build signature holds the digest of the contents of every header its
    group's compiled header holds, made again whenever one of them changes; listing
    them among its implicit dependencies too would make every no-op build load and
    compare those signatures (43 to 65 on the host) per user again.  Headers it
    includes outside the set stay.
    """
    def scan(node: Any, env: Any, path: Any) -> list[Any]:
        # A header this build writes stays: the compile must wait for it (its digest was read too early).
        return [n for n in CScanner(node, env, path) if n.get_abspath() not in held or n.has_builder()]

    base = genv["BUILDERS"]["Object"]
    builder = copy.copy(base.builder if isinstance(base, CompositeBuilder) else base)
    builder.source_scanner = ScannerBase(scan, "TflmPchUserScanner", path_function=CScanner.path_function,
                                         recursive=True)
    return builder


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
    compiled: Any = None  # None: the group has no compiled header
    signature: str = ""  # what its users' build signatures hold of it: the digest of its header set
    flags: str = ""
    objects: list[Any] = field(default_factory=list)  # users declared before decide()
    on: bool = False  # this build builds and uses the compiled header
    builder: Any = None  # compiles a user: the Object builder without the held headers' scan


class Groups:
    """The precompiled headers of one configuration, declared on first use."""

    def __init__(self, gen: Path, family: str, always: bool) -> None:
        self.gen = gen
        self.always = always  # PCH=1: every group with a header set, however few users this build has
        self.suffix = ".pch" if family == "clang" else ".gch"
        self.cache = ChoiceCache(gen / "pch" / "choices")
        self._groups: dict[tuple[str, str], _Group] = {}
        self._flags: dict[Any, str] = {}  # object node -> its -include flags
        self._signatures: dict[Any, str] = {}  # object node -> its group's header set digest
        self._include_dirs: dict[tuple[str, ...], list[Path]] = {}  # CPPPATH -> absolute folders
        self.decided = False

    def flags_for(self, target: Sequence[Any], source: Any, env: Any, for_signature: bool) -> str:
        """$TFLM_PCH_FLAGS of a compile: the -include of its group's compiled header, if it uses it.

        For the build signature, instead, the digest of the header set for every user of a group,
        whether this build uses the compiled header or not: an object is the same either way, and
        is compiled again when a header of the set changes.
        """
        if not target:
            return ""
        node = target[0]
        node = node.get() if isinstance(node, Proxy) else node  # SCons hands over a proxy of the node
        return (self._signatures if for_signature else self._flags).get(node, "")

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
            choice = self.cache.choose(f"{group}-{lang}", sources, self._folders(genv))
            self._groups[key] = _Group(choice, frozenset(str(m) for m in sources))
            if choice.headers:
                self._declare(genv, group, lang, self._groups[key])
        entry = self._groups[key]
        if entry.compiled is None:
            return None
        if str(source) in entry.sources:
            return entry if str(source) in entry.choice.users else None
        # A program's source compiled with the group's flags uses its PCH on the same conditions.
        return entry if self.cache.uses(f"{group}-{lang}", source, self._folders(genv), entry.choice) else None

    def _folders(self, genv: Any) -> list[Path]:
        """``genv``'s include path as absolute folders (made once per include path)."""
        key = tuple(genv["CPPPATH"])
        if key not in self._include_dirs:
            self._include_dirs[key] = [Path(os.path.abspath(d)) for d in key]
        return self._include_dirs[key]

    def _declare(self, genv: Any, group: str, lang: str, entry: _Group) -> None:
        """The header, its compiled form (depending on the digest of the header set), and the users' flags."""
        folder = self.gen / "pch" / f"{group}-{lang}"
        header = genv.TflmPchHeader(str(folder / "tflm_pch.h"), genv.Value(entry.choice.text()))
        # Short: every user's signature record keeps it.
        entry.signature = "tflm-pch:" + hashlib.sha1(f"{entry.choice.text()}{entry.choice.digest}".encode()).hexdigest()
        builder = genv.TflmPchCxx if lang == "cxx" else genv.TflmPchC
        entry.compiled = builder(str(folder / f"tflm_pch.h{self.suffix}"), header)
        genv.Depends(entry.compiled, genv.Value(entry.signature))
        entry.flags = " ".join(["-include", str(folder / "tflm_pch.h"), "-Winvalid-pch",
                                genv.subst("$TFLM_PCH_LAUNCHER_FLAGS")]).strip()
        entry.builder = _user_builder(genv, frozenset(entry.choice.held))

    def add_users(self, entry: _Group, nodes: list[Any]) -> None:
        """Users declared before decide() wait for it; later ones use the compiled header as decided."""
        self._signatures.update(dict.fromkeys(nodes, entry.signature))
        if self.decided:
            self._attach(entry, nodes)
        else:
            entry.objects.extend(nodes)

    def _attach(self, entry: _Group, nodes: list[Any]) -> None:
        """When the group's compiled header is on, its users use it, and it is built first."""
        if entry.on:
            for node in nodes:  # what env.Requires does, without making nodes of nodes again
                node.add_prerequisite(entry.compiled)
            self._flags.update(dict.fromkeys(nodes, entry.flags))

    def decide(self) -> None:
        """Use a group's compiled header when MIN_USERS of its users are declared, it is already built, or PCH=1."""
        self.decided = True
        for entry in self._groups.values():
            if entry.compiled is None:
                continue
            entry.on = self.always or len(entry.objects) >= MIN_USERS or Path(str(entry.compiled[0])).is_file()
            if entry.objects:
                self._attach(entry, entry.objects)


def exists(env: Any) -> bool:
    return True
