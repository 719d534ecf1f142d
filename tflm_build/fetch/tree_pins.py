"""The dependency versions a TFLM tree names, and the versions a build takes.

TFLM's Makefile fetches its dependencies with download scripts that live in
its own tree (``flatbuffers_download.sh``, ``kissfft_download.sh``,
``third_party_downloads.inc``, ``ext_libs/cmsis_download.sh``,
``ext_libs/cmsis_nn_download.sh``): each names an archive URL and its MD5.  A
TFLM tree from another month names other versions, and its own patches
(``flatbuffers.patch``) fit only those.  So the build reads those facts from
the tree in use rather than keeping a table per TFLM range here: they are
exactly what that tree's Makefile uses, they need no upkeep, and they follow a
tree edited by hand as well.

For each dependency, in order:

1. an explicit ``<NAME>_DIR`` wins;
2. the tree names the version ``third_party/<name>.yaml`` pins: the pin's tree
   hash verifies it;
3. the tree names another version: it is fetched from the URL the tree names
   (through the cache and mirrors like any other) and its archive checked
   against the MD5 the tree names; its tree hash cannot be verified (none is
   pinned for it) and the build says so.  ``tflm-build deps pin <name>
   <version>`` turns it into a tree-hash pin;
4. the tree names none: the pin.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from ..errors import ConfigError, FetchError
from .download import Fetcher, mirror_path
from .pins import TFLM, UNPINNED_TREE, Dependency

SCRIPTS = "tensorflow/lite/micro/tools/make"
# The oldest TFLM commit with every file this module and sources/tflm.yaml rely on
# (first-parent history of tensorflow/tflite-micro): CMSIS-NN's own download
# script (2022-10) and the signal library (2023-06).
OLDEST_COMMIT = "c306ff608441e853f884c6f32dbcd1a7f73146cc"
OLDEST_DATE = "2023-06-13"


@dataclass(frozen=True)
class Source:
    """Where a TFLM tree names one of our dependencies: script and variable prefix."""

    name: str  # the dependency, as in third_party/<name>.yaml
    script: str  # relative to SCRIPTS
    prefix: str  # <prefix>_URL and <prefix>_MD5


NAMED_BY = (
    Source("flatbuffers", "flatbuffers_download.sh", "FLATBUFFERS"),
    Source("kissfft", "kissfft_download.sh", "KISSFFT"),
    Source("gemmlowp", "third_party_downloads.inc", "GEMMLOWP"),
    Source("ruy", "third_party_downloads.inc", "RUY"),
    Source("cmsis", "ext_libs/cmsis_download.sh", "CMSIS"),
    Source("cortex_dfp", "ext_libs/cmsis_download.sh", "CMSIS_DFP"),
    Source("cmsis_nn", "ext_libs/cmsis_nn_download.sh", "CMSIS_NN"),
)
REQUIRED = (*sorted({f"{SCRIPTS}/{s.script}" for s in NAMED_BY}), "signal/src")

_ASSIGN = re.compile(r"^\s*(?:export\s+|local\s+)?([A-Za-z_]\w*)\s*:?=\s*(\"[^\"]*\"|'[^']*'|[^\s#]*)")
_REF = re.compile(r"\$\{(\w+)(#[^}]*)?\}|\$\((\w+)\)|\$(\w+)")
_ARCHIVE = re.compile(r"\.(zip|tar\.gz|tgz|tar\.bz2|tar\.xz)$")
_TAG_V = re.compile(r"^v(?=\d)")
_GITHUB = re.compile(r"^https?://github\.com/[^/]+/([^/]+)/archive/(?:refs/tags/)?(.+?)\.(?:zip|tar\.gz)$")


@dataclass(frozen=True)
class Named:
    """A dependency version a TFLM tree names: the archive URL and MD5 of its download script."""

    name: str
    url: str
    version: str
    md5: str | None
    script: str  # path relative to the TFLM root
    line: int

    @property
    def where(self) -> str:
        return f"{Path(self.script).name}:{self.line}"


@dataclass(frozen=True)
class TflmTree:
    """A TFLM tree in use and what is known of it: its commit when it can be told."""

    root: Path
    commit: str | None

    @property
    def label(self) -> str:
        return f"TFLM {self.commit[:12]}" if self.commit else f"the TFLM tree at {self.root}"


def short(version: str) -> str:
    """A commit as 12 hex digits, a tag as it is."""
    return version[:12] if re.fullmatch(r"[0-9a-f]{40}", version) else version


def version_of(url: str) -> str:
    """The tag or commit an archive URL names: its last path component without the extension."""
    return _ARCHIVE.sub("", Path(urlsplit(url).path).name)


def same_archive(a: str, b: str) -> bool:
    """Whether two URLs name the same upstream archive (scheme and GitHub's refs/tags/ aside)."""
    def key(url: str) -> str:
        return _ARCHIVE.sub("", mirror_path(url).replace("/refs/tags/", "/")).lower()
    return key(a) == key(b)


def github_top(url: str) -> str | None:
    """The top folder of a GitHub archive: ``<repo>-<ref>``, a tag's leading ``v`` dropped."""
    match = _GITHUB.match(url)
    if not match:
        return None
    repo, ref = match.groups()
    return f"{repo}-{_TAG_V.sub('', ref)}"


def _expand(value: str, variables: Mapping[str, str]) -> str:
    """Shell / make variable references: ``${X}``, ``${X#prefix}``, ``$(X)``, ``$X``."""
    def sub(match: re.Match[str]) -> str:
        text = variables.get(match.group(1) or match.group(3) or match.group(4), "")
        cut = (match.group(2) or "#")[1:]
        return text[len(cut):] if cut and text.startswith(cut) else text
    return _REF.sub(sub, value)


def _read_script(root: Path, script: str) -> dict[str, tuple[str, int]]:
    """Every variable the script assigns, expanded in order, with the line of its first assignment."""
    variables: dict[str, str] = {}
    first: dict[str, tuple[str, int]] = {}
    text = (root / SCRIPTS / script).read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        match = _ASSIGN.match(line)
        if match:
            value = _expand(match.group(2).strip("\"'"), variables)
            variables[match.group(1)] = value
            first.setdefault(match.group(1), (value, number))
    return first


def check_tree(tree: TflmTree) -> None:
    """Refuse a tree older than the oldest one served, naming what it lacks and the first commit served."""
    missing = [p for p in REQUIRED if not (tree.root / p).exists()]
    if missing:
        raise ConfigError(
            f"{tree.label} is too old for tflm-build: it has no {', '.join(missing)}",
            fix=f"use TFLM from commit {OLDEST_COMMIT[:12]} ({OLDEST_DATE}) on: set TFLM_ROOT to a newer tree, "
                f"or `tflm-build deps pin tflite_micro <commit>`")


def read_named(tree: TflmTree) -> dict[str, Named]:
    """The dependency versions the tree's download scripts name (a name it does not mention is absent)."""
    check_tree(tree)
    scripts: dict[str, dict[str, tuple[str, int]]] = {}
    named: dict[str, Named] = {}
    for source in NAMED_BY:
        values = scripts.setdefault(source.script, _read_script(tree.root, source.script))
        if f"{source.prefix}_URL" not in values:
            continue
        url, line = values[f"{source.prefix}_URL"]
        md5 = values.get(f"{source.prefix}_MD5", ("", 0))[0]
        named[source.name] = Named(source.name, url, version_of(url),
                                   md5 if re.fullmatch(r"[0-9a-f]{32}", md5) else None,
                                   f"{SCRIPTS}/{source.script}", line)
    return named


def _https(url: str) -> str:
    """TFLM names some GitHub archives with http://; fetch them over https."""
    return re.sub(r"^http://github\.com/", "https://github.com/", url)


def as_named(dep: Dependency, named: Named) -> Dependency:
    """``dep`` moved to the version ``named`` names: URL, top folder and MD5 from the tree, no tree hash."""
    top = github_top(named.url)
    if top is None and dep.strip_prefix:
        top = dep.strip_prefix.replace(dep.version.lstrip("v"), named.version.lstrip("v"))
    return replace(dep, version=named.version, url=_https(named.url), extra_urls=(), sha256=None,
                   tree=UNPINNED_TREE, strip_prefix=top, md5=named.md5)


def git_commit(root: Path) -> str | None:
    """HEAD of a git checkout, or None (an unpacked archive carries no commit)."""
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@dataclass(frozen=True)
class Choice:
    """The version a build takes for one dependency, and why."""

    version: str
    why: str


@dataclass(frozen=True)
class TreeChoice:
    """What the TFLM tree in use names and what the build takes for each dependency."""

    tree: TflmTree
    named: Mapping[str, Named]
    choices: Mapping[str, Choice]

    def ensure(self, fetcher: Fetcher, name: str) -> Path:
        """``fetcher.ensure(name)``; an archive that fails the MD5 the tree names is one clear error."""
        try:
            return fetcher.ensure(name)
        except FetchError as error:
            found = self.named.get(name)
            if found is None or not fetcher.deps[name].md5 or "checksum mismatch" not in error.message:
                raise
            problem = next(line for line in error.message.splitlines() if "checksum mismatch" in line)
            raise ConfigError(
                f"{name} {found.version}, named by {self.tree.label}: {problem.strip().removeprefix(name + ': ')}",
                file=self.tree.root / found.script, line=found.line,
                fix=f"the archive is not the one that TFLM names; if a mirror re-packed it, check its contents and "
                    f"pin them with `tflm-build deps pin {name} {found.version} REPACKED=1`, or set "
                    f"{fetcher.deps[name].env_var} to a trusted {name} {found.version} tree") from None

    def line(self, names: list[str]) -> str:
        """One line for the build output: every dependency used, its version and why."""
        parts = [f"{name} {self.choices[name].version} ({self.choices[name].why})"
                 for name in names if name != TFLM and name in self.choices]
        return f"tflm-build: dependencies of {self.tree.label}: " + "; ".join(parts)


def identify(fetcher: Fetcher, root: Path) -> TflmTree:
    """The TFLM tree in use: the pinned commit when it is (or verifies as) the pin, else its git HEAD."""
    pin = fetcher.deps[TFLM]
    if TFLM not in fetcher.settings.local_dirs or fetcher.status(TFLM).verified:
        return TflmTree(root, pin.version)
    return TflmTree(root, git_commit(root))


def follow_tree(fetcher: Fetcher, commit: str | None = None) -> TreeChoice:
    """Point ``fetcher`` at the dependency versions the TFLM tree in use names (module docstring).

    ``commit``: what the caller knows the tree to be (``deps pin`` reviewing a fetched commit).
    """
    root = fetcher.ensure(TFLM)
    tree = TflmTree(root, commit) if commit else identify(fetcher, root)
    named = read_named(tree)
    effective: dict[str, Dependency] = {}
    choices: dict[str, Choice] = {}
    for name, dep in fetcher.deps.items():
        found = named.get(name)
        local = fetcher.settings.local_dirs.get(name)
        effective[name] = dep
        if local is not None:
            over = f" over {short(found.version)} named by {found.where}" if found else ""
            choices[name] = Choice(short(dep.version), f"{dep.env_var}={local} wins{over}")
        elif found is None:
            choices[name] = Choice(short(dep.version), f"our pin; {tree.label} names none")
        elif same_archive(found.url, dep.url) and dep.pinned:
            choices[name] = Choice(short(dep.version), f"named by {found.where}, pinned: tree hash verified")
        else:
            effective[name] = as_named(dep, found)
            checked = "archive MD5 checked" if found.md5 else "no MD5 named"
            choices[name] = Choice(short(found.version), f"named by {found.where}, not pinned in "
                                   f"third_party/{name}.yaml: {checked}, tree hash not verified")
    fetcher.deps = effective
    return TreeChoice(tree, named, choices)
