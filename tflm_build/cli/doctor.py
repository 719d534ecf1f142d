"""``tflm-build doctor`` and the INSTALLED column of ``tflm-build targets``: what this machine has.

Everything is read from the target files (compiler names, minimum versions,
runner tools, install hints), so a new target is diagnosed without code.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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

    @property
    def line(self) -> str:
        if self.path is None:
            return f"  MISSING  {self.name:<26} {self.install}"
        return f"  ok       {self.name:<26} {self.version:<12} {self.path}"


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
    """The compiler and the runner's tool a target needs."""
    spec = target.toolchain
    compiler = spec.prefix + spec.tool_names(spec.family)["cxx"]
    tools = [find(compiler, spec.install_hint())]
    runner = target.runner
    if runner.tool:
        tools.append(find(runner.tool, runner.install or f"install {runner.tool}"))
    return tools


def _too_old(tool: Tool, minimum: str | None) -> bool:
    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", text)[:3])

    return bool(minimum and tool.path and tool.version != "?" and numbers(tool.version) < numbers(minimum))


def target_rows(repo: Path) -> list[tuple[str, str, str, str, str]]:
    """target, arches, runner, project kinds, what is installed: one row per selectable target."""
    registry = TargetRegistry(repo / "targets")
    rows = []
    for name in registry.names():
        target = registry.load(name, None)
        arches = ", ".join(target.allowed_arches or [target.arch])
        runner = target.runner.kind
        minimum = target.toolchain.min_version
        installed = []
        for index, tool in enumerate(target_tools(target)):  # the compiler first
            state = "missing" if tool.path is None else tool.version
            if index == 0 and _too_old(tool, minimum):
                state += f" (needs {minimum})"
            installed.append(f"{tool.name} {state}")
        rows.append((name, arches if len(arches) <= 40 else arches[:37] + "...", runner,
                     ", ".join(target.project_kinds) or "-", ", ".join(installed)))
    return rows


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


def _cache_line(label: str, folder: Path | None, unset: str) -> str:
    if folder is None:
        return f"  -        {label:<26} not set: {unset}"
    if not folder.is_dir():
        return f"  ok       {label:<26} {folder} (empty)"
    size, count = _size(folder)
    writable = "" if os.access(folder, os.W_OK) else "  NOT WRITABLE"
    return f"  ok       {label:<26} {folder}  {size / 1e6:.1f} MB in {count} files{writable}"


def doctor(repo: Path, out: Callable[[str], None]) -> int:
    """Print what is installed and what is missing (with how to get it); 0 unless the host compiler is missing."""
    import SCons

    out(f"tflm-build doctor: Python {sys.version.split()[0]}, SCons {SCons.__version__}, repository {repo}")
    registry = TargetRegistry(repo / "targets")
    missing: list[Tool] = []
    host_ok = True
    out("Toolchains and runners (per target):")
    for name in registry.names():
        target = registry.load(name, None)
        minimum = target.toolchain.min_version
        for index, tool in enumerate(target_tools(target)):  # the compiler first
            line = tool.line
            if index == 0 and _too_old(tool, minimum):
                line += f"  TOO OLD: needs {minimum}"
            out(f"{line}   [{name}]")
            if tool.path is None:
                missing.append(tool)
                host_ok = host_ok and not target.host
    out("Compiler launchers (COMPILER_LAUNCHER=):")
    for name, install in LAUNCHERS.items():
        out(find(name, install).line)
    hosts = os.environ.get("DISTCC_HOSTS")
    out(f"  {'':<8} DISTCC_HOSTS={hosts}" if hosts else f"  {'':<8} DISTCC_HOSTS not set (distcc reads ~/.distcc/hosts)")
    out("Other tools:")
    for name, install in _OTHER_TOOLS.items():
        tool = find(name, install)
        out(tool.line)
        if tool.path is None:
            missing.append(tool)
    out("Caches:")
    downloads = Settings.from_env(repo, os.environ, {}).cache_dir  # where the fetcher itself looks
    out(_cache_line("downloads (TFLM_BUILD_CACHE)", downloads, ""))
    objects = os.environ.get(OBJECT_CACHE_VAR)
    out(_cache_line(f"objects ({OBJECT_CACHE_VAR})", user_path(objects, OBJECT_CACHE_VAR) if objects else None,
                    f"set {OBJECT_CACHE_VAR} or pass --cache-dir to share compiled objects across checkouts"))
    if missing:
        out("Missing, and how to get it:")
        for tool in {t.name: t for t in missing}.values():
            out(f"  {tool.name}: {tool.install}")
    else:
        out("Nothing missing.")
    return 0 if host_ok else 1
