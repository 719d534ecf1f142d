"""``tflm-build deps pin <name> <version>``: move a pin in ``third_party/<name>.yaml``.

It fetches that version through the cache and mirrors like any download,
hashes the extracted tree and rewrites the YAML atomically, touching only the
lines of ``version``, ``url``, ``strip_prefix``, ``sha256`` and ``tree`` (comments
and order stay).  The URL is the one the TFLM tree in use names for that
version when it names it (its MD5 is then checked too), else the pinned URL
with the version replaced.

For ``tflite_micro`` the new tree is also reviewed against the rest of the
data, because a TFLM pin decides more than one file: the dependency versions
it names against ours, the folders and files ``sources/tflm.yaml``,
``examples/`` and ``targets/`` name and the tree lacks (each message names the
file, the commit and what to change), and, when that tree's Makefile can run
(``make`` installed), our ``list_*`` goals against its own.

Exit status: 0 pinned (differences are reported, not errors), 2 bad input (an
unknown dependency, a version that does not exist upstream, a checksum
mismatch, a tree too old to serve), 1 a failed download.  On any error the
YAML is untouched and nothing fetched is kept.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import yaml

from ..build.dependencies import make_fetcher
from ..build.variables import Config
from ..errors import ConfigError, FetchError, TflmBuildError, USAGE_EXIT, unknown_choice
from ..files import write_atomic
from ..fetch import treehash
from ..fetch.download import Fetcher, Settings
from ..fetch.pins import TFLM, UNPINNED_TREE, Dependency
from ..fetch.tree_pins import (NAMED_BY, Named, TflmTree, as_named, follow_tree, github_top, read_named,
                               same_archive, short)
from ..model.yamlio import load_yaml
from .scons import scons_argv

_COMMIT = re.compile(r"[0-9a-f]{40}")
_MAKEFILE = "tensorflow/lite/micro/tools/make/Makefile"
_DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"
LIST_GOALS = ("list_library_sources", "list_library_headers", "list_third_party_sources",
              "list_third_party_headers")
HOST_DEPS = ("flatbuffers", "gemmlowp", "kissfft", "ruy")

Out = Callable[[str], None]


def pin_command(repo: Path, args: Sequence[str], config: Callable[[], Config], repacked: bool = False,
                out: Out = print) -> int:
    """Run ``deps pin``; the exit status (module docstring).  ``config`` parses the variables (it may fail)."""
    try:
        if len(args) != 2:
            raise ConfigError(f"deps pin takes a dependency and a version, got {' '.join(args) or 'nothing'}",
                              fix="e.g. `tflm-build deps pin flatbuffers v23.5.26`")
        _pin(repo, args[0], args[1], config(), repacked, out)
    except ConfigError as error:
        out(error.render())
        return USAGE_EXIT
    except TflmBuildError as error:
        out(error.render())
        return 1
    return 0


def _pin(repo: Path, name: str, version: str, config: Config, repacked: bool, out: Out) -> None:
    deps, fetcher = make_fetcher(repo, config, follow=False)
    if name not in deps:
        raise unknown_choice("dependency", name, deps)
    dep = deps[name]
    named = None
    if name != TFLM:
        choice = follow_tree(fetcher)
        found = choice.named.get(name)
        named = found if found is not None and found.version == version else None
        fetcher.deps = deps
    candidate = _candidate(dep, version, named, repacked)
    work = Path(tempfile.mkdtemp(prefix=".pin-", dir=_scratch(fetcher)))
    try:
        tree = work / "tree"
        source = _unpack(fetcher, candidate, tree)
        digest = treehash.tree_hash(tree, dep.local_ignore)
        if named is not None:
            md5 = f"archive MD5 {named.md5} as {named.where} names" if named.md5 and not repacked else (
                "archive MD5 not checked (REPACKED=1)" if named.md5 else f"{named.where} names no MD5")
        else:
            md5 = "no MD5 to check (the TFLM tree in use does not name this version)"
        review = review_tflm(repo, tree, version, deps, fetcher) if name == TFLM else []
        changed = rewrite_yaml(dep.file, {"version": version, "url": candidate.url,
                                          "strip_prefix": candidate.strip_prefix, "tree": digest,
                                          **({"sha256": None} if dep.sha256 else {})})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    moved = f"(was {short(dep.version)})" if dep.version != version else "(unchanged version)"
    action = f"{dep.file} rewritten" if changed else f"{dep.file} already says so"
    out(f"{name}: pinned {short(version)} {moved}: tree {digest} from the {source}; {md5}; {action}")
    for line in review:
        out(line)


def _scratch(fetcher: Fetcher) -> Path:
    folder = fetcher.settings.downloads_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _candidate(dep: Dependency, version: str, named: Named | None, repacked: bool) -> Dependency:
    """The dependency at ``version``: the TFLM tree's URL when it names it, else our URL with the version swapped."""
    if not version or re.search(r"[\s/]", version):
        raise ConfigError(f"'{version}' is not a tag or commit", fix="give a tag (e.g. v23.5.26) or a full commit")
    if named is not None:
        moved = as_named(dep, named)
        return replace(moved, md5=None) if repacked else moved
    if _COMMIT.fullmatch(dep.version) and not _COMMIT.fullmatch(version):
        raise ConfigError(f"{dep.name} is pinned by commit; '{version}' is not a full 40-digit commit",
                          file=dep.file, key="version", fix="give the full commit (git rev-parse <ref>)")
    if dep.version not in dep.url:
        raise ConfigError(f"cannot tell the URL of {dep.name} {version}: the url does not contain "
                          f"the version {dep.version}", file=dep.file, key="url",
                          fix=f"edit url, strip_prefix and version in {dep.file} by hand, then pin again")
    url = dep.url.replace(dep.version, version)
    top = github_top(url)
    if top is None and dep.strip_prefix:
        top = dep.strip_prefix.replace(dep.version.lstrip("v"), version.lstrip("v"))
    return replace(dep, version=version, url=url, extra_urls=(), sha256=None, tree=UNPINNED_TREE,
                   strip_prefix=top, md5=None)


def _unpack(fetcher: Fetcher, dep: Dependency, tree: Path) -> str:
    """Fetch and extract; a 404 or a checksum mismatch is bad input (2), any other failure a download (1)."""
    try:
        return fetcher.unpack_unpinned(dep, tree)
    except FetchError as error:
        if "HTTP 404" in error.message:
            raise ConfigError(f"{dep.name} {dep.version} does not exist upstream: {dep.url} answers 404",
                              file=dep.file, key="version",
                              fix="check the tag or commit name upstream (releases, tags or the commit log)") from None
        if "checksum mismatch" in error.message:
            problem = error.message.splitlines()[-1].strip().removeprefix(f"{dep.name}: ")
            raise ConfigError(f"{dep.name} {dep.version}: {problem}", file=dep.file,
                              fix="the archive is not the one the TFLM tree names; if a mirror re-packed it, "
                                  "check its contents and add REPACKED=1") from None
        raise


def _quoted(value: str | None) -> str:
    """A YAML scalar that reads back as ``value`` (null for None)."""
    if value is None:
        return "null"
    if value.startswith("h1:"):
        return json.dumps(value)
    try:
        plain = yaml.safe_load(value) == value and ": " not in value and " #" not in value
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value)


def rewrite_yaml(path: Path, values: Mapping[str, str | None]) -> bool:
    """Set top-level scalar keys, keeping every other line and trailing comments; atomic.  True if it changed."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for key, value in values.items():
        pattern = re.compile(rf"^{re.escape(key)}:[ \t]*(\"[^\"]*\"|'[^']*'|[^#\n]*?)([ \t]+#.*)?$")
        for number, line in enumerate(lines):
            match = pattern.match(line.rstrip("\r\n"))
            if match:
                lines[number] = f"{key}: {_quoted(value)}{match.group(2) or ''}\n"
                break
        else:
            if value is not None:
                lines.append(f"{key}: {_quoted(value)}\n")
    new = "".join(lines)
    data = yaml.safe_load(new)
    if any(data.get(key) != value for key, value in values.items()):
        raise ConfigError("cannot rewrite the pin in place (unusual YAML layout)", file=path,
                          fix=f"set {', '.join(values)} by hand")
    if new == text:
        return False
    write_atomic(path, new)
    return True


# ---------------------------------------------------------------- reviewing a TFLM tree


def review_tflm(repo: Path, root: Path, commit: str, deps: Mapping[str, Dependency], fetcher: Fetcher) -> list[str]:
    """What a move to the TFLM tree at ``root`` means for our data; refuses a tree too old to serve."""
    tree = TflmTree(root, commit)
    named = read_named(tree)
    try:
        old: Path | None = fetcher.ensure(TFLM)
    except TflmBuildError:
        old = None
    lines = [f"dependencies {tree.label} names (third_party/*.yaml pins):"]
    lines += dependency_report(tree, named, deps)
    problems = data_problems(repo, tree, old)
    lines.append(f"what {tree.label} lacks of our data:" if problems else
                 f"every folder and file sources/tflm.yaml, examples/ and targets/ name is in {tree.label}")
    lines += [f"  {p}" for p in problems]
    lines += makefile_parity(repo, tree, deps, fetcher.settings)
    return lines


def dependency_report(tree: TflmTree, named: Mapping[str, Named], deps: Mapping[str, Dependency]) -> list[str]:
    """One line per dependency the download scripts concern: same as our pin, or what a build does instead."""
    lines = []
    for source in NAMED_BY:
        dep = deps.get(source.name)
        found = named.get(source.name)
        if dep is None:
            continue
        if found is None:
            lines.append(f"  {source.name}: not named by {source.script}; builds keep our pin {short(dep.version)}")
        elif same_archive(found.url, dep.url):
            lines.append(f"  {source.name} {short(found.version)}: same as our pin")
        else:
            repo_note = ""
            ours, theirs = github_top(dep.url), github_top(found.url)
            if ours and theirs and ours.split("-")[0] != theirs.split("-")[0]:
                repo_note = (f"; another repository ({theirs.split('-')[0]}, ours {ours.split('-')[0]}): check "
                             f"`build:` of third_party/{source.name}.yaml against it")
            lines.append(f"  {source.name} {short(found.version)} (named by {found.where}), ours "
                         f"{short(dep.version)}: builds fetch {short(found.version)} and check its MD5; pin it with "
                         f"`tflm-build deps pin {source.name} {found.version}`{repo_note}")
    return lines


def _folder(pattern: str) -> str:
    """The folder part of a glob, before its first wildcard."""
    parts = []
    for part in pattern.split("/")[:-1]:
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return "/".join(parts)


def _line_of(path: Path, needle: str) -> int | None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    return None


def data_problems(repo: Path, tree: TflmTree, old: Path | None) -> list[str]:
    """Folders and files our YAML names that the tree lacks (and the tree in use has, when it is at hand):
    file:line, the commit, what to change."""
    root, label = tree.root, tree.label

    def lacks(rel: str) -> bool:
        return not (root / rel).exists() and (old is None or (old / rel).exists())

    problems: list[str] = []
    rules_file = repo / "sources" / "tflm.yaml"
    rules = load_yaml(rules_file)
    for group in [*rules["library"].values(), rules["headers"], *rules["tests"]["groups"]]:
        for pattern in group.get("files") or []:
            folder = _folder(pattern)
            if folder and lacks(folder):
                problems.append(f"sources/tflm.yaml:{_line_of(rules_file, pattern)}: {label} has no folder {folder} "
                                f"('{pattern}'): find where its files moved and change the pattern")
        for entry in group.get("trees") or []:
            if lacks(entry["dir"]):
                problems.append(f"sources/tflm.yaml:{entry.line}: {label} has no folder {entry['dir']}: "
                                f"change the tree's `dir`")
    for path in sorted((repo / "examples").glob("*.yaml")):
        data = load_yaml(path)
        if data.get("root", "tflm") != "tflm":
            continue
        base = data.get("dir", "")
        rel = f"examples/{path.name}"
        if base and lacks(base):
            problems.append(f"{rel}:{data.line_of('dir')}: {label} has no {base}: the example was renamed or "
                            f"removed; change `dir` (and the sources) or delete {rel}")
            continue
        wanted = [(f, "generator_inputs") for f in data.get("generator_inputs") or []]
        for program, spec in data["programs"].items():
            wanted += [(f, f"programs.{program}.sources") for f in spec.get("sources") or []]
        problems += [f"{rel}: {label} has no {base}/{file} (key '{key}'): the file was renamed or removed; "
                     f"change '{key}'" for file, key in wanted if lacks(f"{base}/{file}")]
    for path in sorted((repo / "targets").glob("*.yaml")):
        data = load_yaml(path)
        kernel = data.get("optimized_kernel_dir") or {}
        folders = [(f"tensorflow/lite/micro/kernels/{d}", "optimized_kernel_dir.allowed")
                   for d in kernel.get("allowed") or []]
        if data.get("tflm_target_dir"):
            folders.append((data["tflm_target_dir"], "tflm_target_dir"))
        problems += [f"targets/{path.name}:{data.line_of(key.split('.')[0])}: {label} has no {folder} "
                     f"(key '{key}'): the folder moved; change '{key}'" for folder, key in folders if lacks(folder)]
    return problems


def normalise(paths: Sequence[str], roots: Mapping[str, Path], repo: Path) -> set[str]:
    """Paths from the Makefile (downloads/<name>/...) and from us (dependency roots) as ``<name>/<path>``,
    generated files as ``genfiles/<path>``."""
    out = set()
    prefix = _DOWNLOADS + "/"
    for path in paths:
        if "/genfiles/" in path:  # generated model data: each side has its own gen folder
            out.add("genfiles/" + path.split("/genfiles/", 1)[1])
            continue
        if path.startswith(prefix):
            out.add(path[len(prefix):])
            continue
        absolute = Path(path) if os.path.isabs(path) else (repo / path).resolve()
        for name, root in roots.items():
            if name != TFLM and absolute.is_relative_to(root.resolve()):
                out.add(f"{name}/{absolute.relative_to(root.resolve()).as_posix()}")
                break
        else:
            out.add(path)
    return out


def last_line(text: str) -> list[str]:
    """The list a list_* goal printed: the last line that is not a tool's chatter."""
    lines = [line for line in text.splitlines()
             if line.strip() and not line.startswith(("scons:", "tflm-build", "make"))]
    return lines[-1].split() if lines else []


def makefile_parity(repo: Path, tree: TflmTree, deps: Mapping[str, Dependency], settings: Settings) -> list[str]:
    """Our list_* goals against the tree's own Makefile (host build), with what to change."""
    if shutil.which("make") is None:
        return ["the Makefile comparison was skipped: make is not installed"]
    if not (tree.root / _MAKEFILE).is_file():
        return [f"the Makefile comparison was skipped: {tree.label} has no {_MAKEFILE}"]
    fetcher = Fetcher(deps, replace(settings, local_dirs={**settings.local_dirs, TFLM: tree.root},
                                    modified_ok={*settings.modified_ok, TFLM}), log=lambda _: None)
    try:
        choice = follow_tree(fetcher, tree.commit)
        roots = {name: choice.ensure(fetcher, name) for name in HOST_DEPS}
    except TflmBuildError as error:
        reason = error.message.splitlines()[0]
        return [f"the Makefile comparison was skipped: the dependencies {tree.label} names are not at hand "
                f"({reason}); pin or provide them, then run this command again"]
    downloads = tree.root / _DOWNLOADS
    downloads.mkdir(parents=True, exist_ok=True)
    (downloads / "pigweed").mkdir(exist_ok=True)  # cloned by the Makefile at parse time, used by no list goal
    for name, root in roots.items():
        (downloads / name).symlink_to(root, target_is_directory=True)
    examples = [p.stem for p in sorted((repo / "examples").glob("*.yaml"))
                if (tree.root / "tensorflow/lite/micro/examples" / p.stem).is_dir()]
    goals = [*LIST_GOALS, *(f"list_{e}_example_sources" for e in examples)]
    lines = [f"our lists against {tree.label}'s Makefile (TARGET=linux):"]
    gen = Path(tempfile.mkdtemp(prefix="tflm-build-pin-"))  # outside the repository, as a user's GEN_DIR
    try:
        for goal in goals:
            lines.append("  " + _parity(repo, tree, goal, roots, gen))
    finally:
        shutil.rmtree(gen, ignore_errors=True)
    return lines


def _parity(repo: Path, tree: TflmTree, goal: str, roots: Mapping[str, Path], gen: Path) -> str:
    """One goal's comparison line."""
    theirs = _make(tree.root, goal)
    if theirs is None:
        return f"{goal}: the Makefile has no such goal here"
    ours = _ours(repo, tree.root, goal, gen)
    if isinstance(ours, str):
        return f"{goal}: ours fails on {tree.label}: {ours}"
    return _compare(goal, normalise(ours, roots, repo), normalise(theirs, roots, repo))


def _make(root: Path, goal: str) -> list[str] | None:
    proc = subprocess.run(["make", "-s", "-f", _MAKEFILE, goal], cwd=root, capture_output=True, text=True,
                          timeout=600)
    return last_line(proc.stdout) if proc.returncode == 0 else None


def _ours(repo: Path, root: Path, goal: str, gen: Path) -> list[str] | str:
    """Our list (or the error it ended with)."""
    env = {k: v for k, v in os.environ.items() if k != "SCONSFLAGS"}
    env.update({"TFLM_ROOT": str(root), "TFLM_ROOT_MODIFIED": "1"})
    proc = subprocess.run(scons_argv([f"GEN_DIR={gen}", goal], cwd=repo), env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "error" in line]
        return (errors or proc.stderr.strip().splitlines() or ["no output"])[-1]
    return last_line(proc.stdout)


def _compare(goal: str, ours: set[str], theirs: set[str]) -> str:
    where = "examples/<example>.yaml" if "example" in goal else \
        "third_party/<name>.yaml (build:)" if "third_party" in goal else "sources/tflm.yaml"
    if ours == theirs:
        return f"{goal}: {len(theirs)} of {len(theirs)} match"
    text = f"{goal}: {len(ours & theirs)} of {len(theirs)} match"
    if theirs - ours:
        text += f"; the Makefile also lists {', '.join(sorted(theirs - ours))}"
    if ours - theirs:
        text += f"; we also list {', '.join(sorted(ours - theirs))}"
    return text + f": change {where}"
