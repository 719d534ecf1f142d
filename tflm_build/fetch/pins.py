"""Third-party dependencies as data: ``third_party/<name>.yaml``.

Each file pins one upstream source tree (URL, version, content hash of the
extracted tree), says which TFLM patches to apply, when the build needs it
(always, or for some targets / optimized kernel folders) and what the build
takes from it.  The TFLM Makefile spreads the same facts over download shell
scripts, ``third_party_downloads.inc`` and per-target makefiles; here adding
or bumping a dependency is editing one file.

Fields beyond the issue's list: ``local_ignore`` (paths an upstream build
writes into its own tree, skipped when hashing; see :mod:`tflm_build.treehash`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from ..errors import ConfigError, shorten
from ..model.schema import Field, Schema, str_list, validate
from ..model.yamlio import LocDict, load_yaml

TFLM = "tflite_micro"
UNPINNED_TREE = "h1:UNKNOWN"  # a placeholder the fetcher refuses: "tree hash not yet pinned"
_H1 = re.compile(r"^h1:[A-Za-z0-9+/]{43}=$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

PATCH: Schema = {
    "path": Field(str, required=True, doc="patch file, relative to the root of the 'from' dependency"),
    "from": Field(str, doc="dependency whose tree holds the patch (default: this repository)"),
    "strip": Field(int, doc="leading path components to strip, like patch -p (default 1)"),
}

BUILD: Schema = {
    "include_dirs": str_list("include folders relative to the tree root"),
    "headers": str_list("header files or globs, for header listings and project export"),
    "sources": str_list("sources compiled with the core flags (globs, ** allowed)"),
    "kernel_sources": str_list("sources compiled with the kernel flags (globs, ** allowed)"),
    "exclude": str_list("globs removed from sources and kernel_sources"),
    "defines": str_list("preprocessor defines, NAME or NAME=VALUE"),
    "license_files": str_list("license files to ship with exported projects"),
}

SCHEMA: Schema = {
    "name": Field(str, required=True, doc="the file name without .yaml"),
    "version": Field(str, required=True, doc="upstream tag or commit"),
    "license": Field(str, required=True, doc="SPDX license identifier"),
    "url": Field(str, required=True, doc="upstream archive URL (https)"),
    "extra_urls": str_list("further upstream URLs, tried in order"),
    "sha256": Field(str, doc="SHA-256 of the archive, or null when the archive is not byte stable"),
    "tree": Field(str, required=True, doc="h1: hash of the extracted tree before patches"),
    "strip_prefix": Field(str, doc="the archive's top folder"),
    "patches": Field(list, items=Field(dict, schema=PATCH)),
    "needed_by": Field(dict, schema={
        "targets": str_list("targets (or targets they extend) that need it"),
        "kernel_dirs": str_list("OPTIMIZED_KERNEL_DIR values that need it"),
    }),
    "build": Field(dict, schema=BUILD),
    "local_ignore": str_list("paths the upstream build writes into its own tree; not hashed"),
}


@dataclass(frozen=True)
class Patch:
    """A patch file applied to the extracted tree after verification."""

    path: str
    from_dep: str | None  # None: relative to the tflm-build repository root
    strip: int


@dataclass(frozen=True)
class BuildInfo:
    """What the build takes from a dependency; paths relative to its tree root."""

    include_dirs: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    kernel_sources: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    license_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class NeededBy:
    """When a build needs the dependency; ``always`` when the YAML has no needed_by."""

    targets: tuple[str, ...] = ()
    kernel_dirs: tuple[str, ...] = ()
    always: bool = True


@dataclass(frozen=True)
class Dependency:
    """One pinned upstream source tree."""

    name: str
    version: str
    license: str
    url: str
    extra_urls: tuple[str, ...]
    sha256: str | None
    tree: str
    strip_prefix: str | None
    patches: tuple[Patch, ...]
    needed_by: NeededBy
    build: BuildInfo
    file: Path
    local_ignore: tuple[str, ...] = ()
    # Set only for a version named by the TFLM tree in use and not pinned here
    # (fetch/tree_pins.py): the archive's MD5 that tree's download script names.
    md5: str | None = None

    @property
    def env_var(self) -> str:
        """The variable naming a local copy: TFLM_ROOT for TFLM, else <NAME>_DIR."""
        return "TFLM_ROOT" if self.name == TFLM else f"{self.name.upper()}_DIR"

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.extra_urls)

    @property
    def pinned(self) -> bool:
        return self.tree != UNPINNED_TREE


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


def _check_url(data: LocDict, key: str, url: str) -> None:
    """A URL we can fetch, whose path can name a file in a mirror folder (``vendor`` writes there)."""
    if not re.match(r"^(https?|file)://", url):
        raise ConfigError(f"unsupported URL {shorten(url)}", file=data.file, line=data.line_of(key), key=key,
                          fix="use an https://, http:// or file:// URL")
    if any(part in (".", "..") for part in urlsplit(url).path.split("/")) or any(ord(c) < 33 for c in url) \
            or "\\" in url:
        raise ConfigError(f"URL {shorten(url)} has a '.' or '..' segment, a space or a control character",
                          file=data.file, line=data.line_of(key), key=key,
                          fix="write the URL without them: mirrors and `tflm-build vendor` use its path as a file path")


def parse_dependency(path: Path) -> Dependency:
    """Load and validate one ``third_party/<name>.yaml``."""
    data = load_yaml(path)
    validate(data, SCHEMA)
    assert isinstance(data, LocDict)

    def fail(key: str, message: str, fix: str) -> ConfigError:
        return ConfigError(message, file=path, line=data.line_of(key), key=key, fix=fix)

    if data["name"] != path.stem or not _NAME.match(data["name"]):
        raise fail("name", f"name {shorten(data['name'])} must equal the file name '{path.stem}'",
                   "use lower-case letters, digits and '_', and name the file <name>.yaml")
    if not _H1.match(data["tree"]) and data["tree"] != UNPINNED_TREE:
        raise fail("tree", f"{shorten(data['tree'])} is not an h1: tree hash",
                   "run `tflm-build fetch` with the dependency unpinned to see the actual hash")
    if data.get("sha256") is not None and not _SHA256.match(data["sha256"]):
        raise fail("sha256", "sha256 must be 64 lower-case hex digits", "copy it from `sha256sum <archive>`")
    _check_url(data, "url", data["url"])
    for url in data.get("extra_urls") or ():
        _check_url(data, "extra_urls", url)
    patches = []
    for entry in data.get("patches") or ():
        strip = entry.get("strip")
        if strip is not None and strip < 0:
            raise ConfigError("strip must be 0 or more", file=path, line=entry.line_of("strip"), key="patches.strip")
        patches.append(Patch(entry["path"], entry.get("from"), 1 if strip is None else strip))
    needed = data.get("needed_by")
    needed_by = NeededBy() if needed is None else NeededBy(
        _tuple(needed.get("targets")), _tuple(needed.get("kernel_dirs")), always=False)
    build = data.get("build") or {}
    return Dependency(
        name=data["name"], version=data["version"], license=data["license"], url=data["url"],
        extra_urls=_tuple(data.get("extra_urls")), sha256=data.get("sha256"), tree=data["tree"],
        strip_prefix=data.get("strip_prefix"), patches=tuple(patches), needed_by=needed_by,
        build=BuildInfo(**{key: _tuple(build.get(key)) for key in BUILD}),
        file=path, local_ignore=_tuple(data.get("local_ignore")))


_CACHE: dict[Path, dict[str, Dependency]] = {}


def load_dependencies(folder: Path) -> dict[str, Dependency]:
    """All ``folder/*.yaml``, validated, cross-checked; parsed once per process."""
    key = folder.resolve()
    if key not in _CACHE:
        deps = {p.stem: parse_dependency(p) for p in sorted(key.glob("*.yaml"))}
        for dep in deps.values():
            for patch in dep.patches:
                if patch.from_dep is not None and patch.from_dep not in deps:
                    raise ConfigError(f"patch comes from unknown dependency '{patch.from_dep}'",
                                      file=dep.file, key="patches.from", choices=sorted(deps),
                                      fix="name one of the files in third_party/")
                if patch.from_dep == dep.name:
                    raise ConfigError("a dependency cannot patch itself", file=dep.file, key="patches.from")
        _CACHE[key] = deps
    return _CACHE[key]


def needed(deps: Mapping[str, Dependency], target_lineage: Sequence[str], kernel_dir: str | None) -> list[str]:
    """Names of the dependencies a build needs, TFLM first, the rest sorted.

    ``target_lineage`` is the chosen target followed by every target it extends.
    """
    lineage = set(target_lineage)
    names = sorted(
        dep.name for dep in deps.values()
        if dep.needed_by.always or lineage & set(dep.needed_by.targets)
        or (kernel_dir is not None and kernel_dir in dep.needed_by.kernel_dirs))
    if TFLM in names:
        names.remove(TFLM)
        names.insert(0, TFLM)
    return names
