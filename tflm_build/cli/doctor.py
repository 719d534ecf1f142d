"""``tflm-build doctor`` and the INSTALLED column of ``tflm-build targets``: what this machine has.

Everything is read from the target files (compiler names, minimum versions,
runner tools, install hints), so a new target is diagnosed without code.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import user_path
from ..fetch.download import Settings
from ..scons_tools.cache import ENV_VAR as OBJECT_CACHE_VAR, LAUNCHERS
from ..model.targets import Target, TargetRegistry

_OTHER_TOOLS = {
    "make": "Debian/Ubuntu: apt-get install make (builds generated make projects)",
    "cmake": "Debian/Ubuntu: apt-get install cmake (builds generated cmake projects)",
    "clangd": "Debian/Ubuntu: apt-get install clangd (reads gen/<config>/compile_commands.json)",
}


@dataclass(frozen=True)
class Tool:
    """One program looked up on PATH."""

    name: str
    path: str | None
    version: str
    install: str


def version_of(path: str) -> str:
    """A compiler's -dumpfullversion, else the first version-looking number of --version."""
    compiler = Path(path).name.endswith(("gcc", "g++", "clang", "clang++"))
    for args in (["-dumpfullversion"], ["--version"]) if compiler else (["--version"],):
        try:
            out = subprocess.run([path, *args], capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(r"\d+\.\d+(\.\d+)?", out.stdout + out.stderr)
        if match and out.returncode == 0:
            return match[0]
    return "?"


def find(name: str, install: str) -> Tool:
    path = shutil.which(name)
    return Tool(name, path, version_of(path) if path else "", install)


def target_tools(target: Target) -> list[Tool]:
    """What a target really needs: its compiler when it compiles anything, its runner's tool, and the
    programs its YAML ``requires`` (idf.py for ESP-IDF projects, cmake and ninja for Mbed ones)."""
    tools = []
    if {"library", "binaries"} & set(target.goals):
        spec = target.toolchain
        tools.append(find(spec.prefix + spec.tool_names(spec.family)["cxx"], spec.install_hint()))
    runner = target.runner
    if runner.tool:
        tools.append(find(target.expand(runner.tool), runner.install or f"install {runner.tool}"))
    tools += [find(r.tool, r.install + (f" ({r.purpose})" if r.purpose else "")) for r in target.requires]
    return tools


def _too_old(tool: Tool, minimum: str | None) -> bool:
    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", text)[:3])

    return bool(minimum and tool.path and tool.version != "?" and numbers(tool.version) < numbers(minimum))


def target_rows(registry: TargetRegistry) -> list[dict[str, Any]]:
    """One row per selectable target: arches, runner, project kinds, and what is installed."""
    rows = []
    for name in registry.names():
        target = registry.load(name, None)
        minimum = target.toolchain.min_version
        installed = []
        for tool in target_tools(target):
            too_old = tool.name.endswith(("g++", "clang++")) and _too_old(tool, minimum)
            installed.append({"tool": tool.name, "path": tool.path, "version": tool.version or None,
                              "needs": minimum if too_old else None})
        rows.append({"name": name, "description": target.description,
                     "arches": list(target.allowed_arches or [target.arch]), "runner": target.runner.kind,
                     "project_kinds": list(target.project_kinds), "file": str(target.file), "installed": installed})
    return rows


def render_target_rows(rows: list[dict[str, Any]]) -> list[str]:
    """The table of ``tflm-build targets``."""
    table = [("TARGET", "ARCHES", "RUNNER", "PROJECTS", "INSTALLED")]
    for row in rows:
        arches = ", ".join(row["arches"])
        installed = ", ".join(f"{i['tool']} {i['version'] if i['path'] else 'missing'}"
                              + (f" (needs {i['needs']})" if i["needs"] else "") for i in row["installed"])
        table.append((row["name"], arches if len(arches) <= 40 else arches[:37] + "...", row["runner"],
                      ", ".join(row["project_kinds"]) or "-", installed or "-"))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[4] for r in table]


def _size(folder: Path) -> tuple[int, int]:
    total = count = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
                count += 1
            except OSError:
                continue
    return total, count


@dataclass
class Report:
    """What doctor found: one entry per check, and what is missing (required tools only)."""

    python: str
    scons: str
    data: str
    workspace: str | None
    checks: list[dict[str, Any]] = field(default_factory=list)  # section, name, state, path, version, detail, for

    @property
    def missing(self) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for check in self.checks:
            if check["state"] in ("missing", "too old"):
                found.setdefault(check["name"], check)
        return list(found.values())


def examine(registry: TargetRegistry, workspace: Path | None, cache_root: Path) -> Report:
    """Every check doctor makes, as data (the text and --json outputs render it)."""
    import SCons

    report = Report(sys.version.split()[0], SCons.__version__, str(registry.folder.parent),
                    str(workspace) if workspace else None)

    def add(section: str, tool: Tool, state: str, needed_for: str = "", detail: str = "") -> None:
        report.checks.append({"section": section, "name": tool.name, "state": state, "path": tool.path,
                              "version": tool.version or None, "detail": detail or tool.install, "for": needed_for})

    for name in registry.names():
        target = registry.load(name, None)
        minimum = target.toolchain.min_version
        for tool in target_tools(target):
            state = "missing" if tool.path is None else "ok"
            if tool.path and tool.name.endswith(("g++", "clang++")) and _too_old(tool, minimum):
                state = "too old"
            add("targets", tool, state, name, f"needs {minimum}; {tool.install}" if state == "too old" else "")
    for name, install in LAUNCHERS.items():  # optional: nothing is missing without them
        tool = find(name, install)
        add("launchers", tool, "ok" if tool.path else "optional")
    for name, install in _OTHER_TOOLS.items():
        tool = find(name, install)
        add("other", tool, "ok" if tool.path else "missing")
    downloads = Settings.from_env(cache_root, os.environ, {}).cache_dir  # where the fetcher itself looks
    objects = os.environ.get(OBJECT_CACHE_VAR)
    for label, folder in (("downloads (TFLM_BUILD_CACHE)", downloads),
                          (f"objects ({OBJECT_CACHE_VAR})", user_path(objects, OBJECT_CACHE_VAR) if objects else None)):
        size, count = _size(folder) if folder is not None and folder.is_dir() else (0, 0)
        report.checks.append({"section": "caches", "name": label, "state": "ok" if folder else "unset",
                              "path": str(folder) if folder else None, "version": None, "for": "",
                              "detail": f"{size / 1e6:.1f} MB in {count} files" if folder else
                              f"set {OBJECT_CACHE_VAR} or pass --cache-dir to share compiled objects across checkouts"})
    return report


def render(report: Report) -> list[str]:
    """doctor's text: a line per check, then what is missing and how to get it (or that nothing is)."""
    lines = [f"tflm-build doctor: Python {report.python}, SCons {report.scons}, data {report.data}"
             + (f", workspace {report.workspace}" if report.workspace else "")]
    titles = {"targets": "Toolchains, runners and tools (per target):", "launchers": "Compiler launchers "
              "(COMPILER_LAUNCHER=, optional):", "other": "Other tools:", "caches": "Caches:"}
    labels = {"ok": "ok", "missing": "MISSING", "too old": "TOO OLD", "optional": "-", "unset": "-"}
    section = None
    for check in report.checks:
        if check["section"] != section:
            section = check["section"]
            lines.append(titles[section])
        where = f"   [{check['for']}]" if check["for"] else ""
        if check["state"] == "ok" and section != "caches":
            lines.append(f"  ok       {check['name']:<26} {check['version'] or '':<12} {check['path']}{where}")
        elif section == "caches":
            lines.append(f"  {labels[check['state']]:<8} {check['name']:<28} {check['path'] or 'not set'}  "
                         f"{check['detail']}")
        else:
            note = "not installed (optional): " if check["state"] == "optional" else ""
            lines.append(f"  {labels[check['state']]:<8} {check['name']:<26} {note}{check['detail']}{where}")
    missing = report.missing
    if missing:
        lines.append("Missing, and how to get it:")
        lines += [f"  {m['name']}: {m['detail']}" for m in missing]
    else:
        lines.append("Nothing missing.")
    return lines


def doctor(registry: TargetRegistry, workspace: Path | None, cache_root: Path, as_json: bool,
           out: Callable[[str], None]) -> int:
    """Print what is installed and what is missing; 0 unless a host target's compiler is missing."""
    report = examine(registry, workspace, cache_root)
    if as_json:
        out(json.dumps({**asdict(report), "missing": report.missing}, indent=1))
    else:
        for line in render(report):
            out(line)
    host = {n for n in registry.names() if registry.load(n, None).host}
    return 1 if any(c["section"] == "targets" and c["for"] in host and c["state"] != "ok" for c in report.checks) \
        else 0
