"""The dependency commands: ``fetch``, ``deps`` and ``vendor``.

They are thin: the CLI and SCons parse arguments and build the Fetcher; these
functions do the work and return the exit status (0 ok, 1 a fetch failed,
2 bad input), printing each error's full message, never a traceback.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..fetch.pins import Dependency
from ..errors import ConfigError, FetchError, TflmBuildError, USAGE_EXIT, unknown_choice
from ..fetch.download import Fetcher, mirror_path, write_tree_zip
from ..files import copy_atomic


def _check_names(names: Sequence[str], deps: Mapping[str, Dependency]) -> None:
    for name in names:
        if name not in deps:
            raise unknown_choice("dependency", name, deps)


def _report(error: TflmBuildError, out: Callable[[str], None]) -> int:
    out(error.render())
    return USAGE_EXIT if isinstance(error, ConfigError) else 1


def fetch_command(names: list[str], fetcher: Fetcher, deps: Mapping[str, Dependency],
                  default_names: Sequence[str], out: Callable[[str], None] = print) -> int:
    """Make ``names`` (default: what the current build needs) available; 1 if any failed."""
    try:
        _check_names(names, deps)
    except ConfigError as error:
        return _report(error, out)
    status = 0
    for name in names or list(default_names):
        try:
            path = fetcher.ensure(name)
        except TflmBuildError as error:
            status = max(status, _report(error, out))
            continue
        out(f"{name}: {path}")
    return status


def deps_command(fetcher: Fetcher, names: Sequence[str], out: Callable[[str], None] = print,
                 as_json: bool = False) -> int:
    """Print a table of the dependencies: name, version, where from, verified, path (or them as JSON)."""
    try:
        _check_names(names, fetcher.deps)
    except ConfigError as error:
        return _report(error, out)
    rows = [("NAME", "VERSION", "FROM", "VERIFIED", "PATH")]
    status = 0
    for name in names or sorted(fetcher.deps):
        try:
            info = fetcher.status(name)
        except TflmBuildError as error:
            status = max(status, _report(error, out))
            continue
        version = info.version if len(info.version) <= 12 else info.version[:12]
        rows.append((info.name, version, info.source, "yes" if info.verified else "no", str(info.path)))
    if as_json:
        out(json.dumps([{**dict(zip(("name", "version", "source", "verified", "path"), row)),
                         "verified": row[3] == "yes"} for row in rows[1:]], indent=1))
        return status
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    return status


def vendor_command(directory: Path, names: Sequence[str], deps: Mapping[str, Dependency],
                   fetcher: Fetcher, out: Callable[[str], None] = print) -> int:
    """Write every archive of ``names`` into ``directory`` laid out as a mirror.

    A folder used with ``TFLM_BUILD_MIRROR=<directory>`` then serves an offline
    build.  A dependency taken from a verified local folder is zipped from that
    folder (its tree hash is what counts, not the archive's bytes).
    """
    try:
        _check_names(names, deps)
    except ConfigError as error:
        return _report(error, out)
    status = 0
    for name in names or sorted(deps):
        dep = deps[name]
        dest = directory / mirror_path(dep.url)
        try:
            local = fetcher.settings.local_dirs.get(name)
            if local is not None:
                if not fetcher.status(name).verified:
                    raise FetchError(f"{dep.env_var}={local} does not match {name} {dep.version}; "
                                     f"not vendoring a modified tree", fix=f"unset {dep.env_var} to vendor "
                                     f"the pinned archive")
                write_tree_zip(local, dep.strip_prefix or "", dest, dep.local_ignore)
            else:
                source = fetcher.archive_for(name)
                copy_atomic(source, dest)
        except TflmBuildError as error:
            status = max(status, _report(error, out))
            continue
        except OSError as error:
            out(f"tflm-build: error: cannot write {dest}: {error.strerror}")
            status = max(status, 1)
            continue
        out(f"{name}: {dest}")
    return status
