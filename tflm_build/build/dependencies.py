"""From the needed dependencies to folders and build inputs: the bridge between fetch and sources.

The build asks one question: for this target and kernel dir, where is each
dependency's tree and what does it add (include dirs, headers, sources,
defines)?  Fetching (or locating a local folder) happens here, once, before
any compile; a verified tree is never fetched or hashed again.
"""
from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path

from .variables import Config, check_tflm_root
from ..fetch.pins import Dependency, load_dependencies, needed
from ..fetch.download import Fetcher, Settings
from ..fetch.tree_pins import follow_tree
from ..model.sources import ThirdParty, expand
from ..model.targets import Target
from ..resources import THIRD_PARTY


def _log(message: str) -> None:
    """Fetch progress goes to stderr, so list goals print only their lists on stdout."""
    print(message, file=sys.stderr, flush=True)


def make_fetcher(root: Path, config: Config, follow: bool = True) -> tuple[dict[str, Dependency], Fetcher]:
    """The pinned dependencies and a fetcher set up from variables and environment, extracting
    below ``root`` (the build root: a workspace or a checkout).

    With ``follow`` the fetcher takes the dependency versions the TFLM tree in
    use names (fetch/tree_pins.py), fetching TFLM first if needed.
    """
    deps = load_dependencies(THIRD_PARTY)
    variables = dict(config.dep_dirs)
    if config["TFLM_ROOT"]:
        variables["TFLM_ROOT"] = str(check_tflm_root(config["TFLM_ROOT"]))
    fetcher = Fetcher(deps, Settings.from_env(root, os.environ, variables), log=_log)
    if follow:
        follow_tree(fetcher)
    return dict(fetcher.deps), fetcher


def resolve_dependencies(root: Path, config: Config, target: Target,
                         kernel_dir: str | None) -> tuple[dict[str, Path], ThirdParty]:
    """Tree root of every needed dependency, and what they add to the library."""
    deps, fetcher = make_fetcher(root, config, follow=False)
    tflm = fetcher.ensure("tflite_micro")
    if config["TFLM_ROOT"]:
        check_tflm_root(str(tflm))
    choice = follow_tree(fetcher)
    roots = {name: choice.ensure(fetcher, name) for name in needed(deps, target.lineage, kernel_dir)}
    roots["tflite_micro"] = tflm
    _log(choice.line(list(roots)))
    return roots, third_party_inputs(deps, roots, target)


def third_party_inputs(deps: dict[str, Dependency], roots: dict[str, Path], target: Target) -> ThirdParty:
    """Collect include dirs, headers, sources and defines of every needed dependency but TFLM."""
    tp = ThirdParty()
    for name, root in roots.items():
        if name == "tflite_micro":
            continue
        build = deps[name].build
        tp.roots.append(root)
        tp.include_dirs += [root / target.expand(d) if d != "." else root for d in build.include_dirs]
        tp.headers += [root / h for h in expand(root, [target.expand(h) for h in build.headers])]
        for attr, out in (("sources", tp.sources), ("kernel_sources", tp.kernel_sources)):
            for rel in expand(root, getattr(build, attr)):
                if any(fnmatch.fnmatchcase(rel, pat) for pat in build.exclude):
                    continue
                out.append(root / rel)
                tp.origin[root / rel] = name
        tp.defines += [target.expand(d) for d in build.defines]
    return tp
