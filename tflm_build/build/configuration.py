"""One build configuration, resolved once from the variables and the target.

The SCons build, the CLI, ci and project generation all ask a :class:`Configuration`
what the toolchain, kernel dir, gen folder, flags and defines are, so each rule
(a default, an allowed-check, the folder name) is written once.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from ..model.sources import Library, ThirdParty, select_library
from ..model.targets import Optimization, Target, TargetRegistry
from .guards import check_gen_folder
from .variables import Config

TOOLCHAINS = ("gcc", "clang")


@dataclass(frozen=True)
class CompileFlags:
    """What every compile and link of the configuration gets (before per-file optimisation levels)."""

    common: tuple[str, ...]  # C and C++ (SCons CCFLAGS)
    c: tuple[str, ...]  # the C standard first
    cxx: tuple[str, ...]  # the C++ standard first
    link: tuple[str, ...]  # the link flags then the common ones, as the Makefile links
    libs: tuple[str, ...]
    defines: tuple[str, ...]  # NAME or NAME=VALUE, as written in the target's YAML
    include_dirs: tuple[Path, ...]  # TFLM's (from the target) then the dependencies'


@dataclass(frozen=True)
class Configuration:
    """TARGET, TARGET_ARCH, toolchain, kernel dir, co-processor, build type and gen folder of one build."""

    variables: Config  # every variable, OPTIMIZED_KERNEL_DIR set to the one resolved
    target: Target
    toolchain: str  # compiler family: gcc or clang
    kernel_dir: str | None
    co_processor: str | None
    build_type: str
    cc11: bool
    gen_root: Path  # GEN_DIR
    gen: Path  # GEN_DIR/<TARGET>_<TARGET_ARCH>_<BUILD_TYPE>[_<dir>][_<co>][_cc11]_<toolchain>

    @property
    def optimization(self) -> Optimization:
        return self.target.optimization

    def compile_flags(self, tflm: Path, third_party: ThirdParty) -> CompileFlags:
        """The target's flags, its arch's and its build type's, the defines this configuration adds,
        and the include folders of TFLM and the dependencies."""
        target = self.target
        extra = target.build_type_flags(self.build_type)
        flags = {kind: target.flags(kind) + [target.expand(f) for f in getattr(extra, kind)]
                 for kind in ("common", "c", "cxx", "link", "defines", "libs", "include_dirs")}
        removed = set(extra.remove_defines) | set(target.flags("remove_defines"))
        defines = [d for d in flags["defines"] if d not in removed]
        if target.host:
            defines.append("TF_LITE_USE_CTIME")
        defines += [special.upper() for special in (self.kernel_dir, self.co_processor) if special]
        defines += third_party.defines
        std_cxx, std_c = ("-std=c++11", "-std=c11") if self.cc11 else ("-std=c++17", "-std=c17")
        if self.toolchain == "clang":
            flags["common"].append("-Wshadow")  # the Makefile enables it for every compiler but gcc
        include = [_include(tflm, d) for d in flags["include_dirs"]] + list(third_party.include_dirs)
        return CompileFlags(common=tuple(flags["common"]), c=(std_c, *flags["c"]), cxx=(std_cxx, *flags["cxx"]),
                            link=(*flags["link"], *flags["common"]), libs=tuple(flags["libs"]),
                            defines=tuple(defines), include_dirs=tuple(include))

    def library(self, rules: Any, tflm: Path, third_party: ThirdParty, kernel_dir: str | None) -> Library:
        """TFLM's library selection for this configuration with ``kernel_dir`` (the configuration's,
        or another for a project whose tags choose other kernels)."""
        target = self.target
        return select_library(rules, tflm, build_type=self.build_type, target_dir=target.tflm_target_dir,
                              glue=list(target.glue), kernel_dir=kernel_dir,
                              co_processor=self.co_processor, extra_headers=list(target.headers),
                              third_party=third_party)


def resolve(variables: Config, targets: TargetRegistry) -> Configuration:
    """Load TARGET (at TARGET_ARCH), check TOOLCHAIN and OPTIMIZED_KERNEL_DIR against it, name the gen folder."""
    target = targets.load(variables["TARGET"], variables["TARGET_ARCH"] or None)
    family = variables["TOOLCHAIN"] or target.toolchain.family
    if family not in TOOLCHAINS:
        raise ConfigError(f"unknown TOOLCHAIN '{family}'", key="TOOLCHAIN", choices=TOOLCHAINS,
                          fix="write TOOLCHAIN=gcc or TOOLCHAIN=clang")
    kernel_dir = variables["OPTIMIZED_KERNEL_DIR"] or target.kernel_dirs.default
    check_kernel_dir_allowed(target, kernel_dir)
    resolved = Config({**variables.values, "OPTIMIZED_KERNEL_DIR": kernel_dir}, variables.dep_dirs)
    gen_root = Path(resolved["GEN_DIR"])
    return Configuration(variables=resolved, target=target, toolchain=family, kernel_dir=kernel_dir or None,
                         co_processor=resolved["CO_PROCESSOR"] or None, build_type=resolved["BUILD_TYPE"],
                         cc11=resolved.flag("CC_VER11"), gen_root=gen_root,
                         gen=gen_root / check_gen_folder(resolved.gen_name(target.name, target.arch, family)))


def check_kernel_dir_allowed(target: Target, kernel_dir: str) -> None:
    """OPTIMIZED_KERNEL_DIR must be one the target lists (when it lists any)."""
    allowed: Sequence[str] | None = target.kernel_dirs.allowed
    if kernel_dir and allowed is not None and kernel_dir not in allowed:
        raise ConfigError(f"OPTIMIZED_KERNEL_DIR={kernel_dir} is not supported by TARGET={target.name}",
                          file=target.file, key="optimized_kernel_dir.allowed", choices=allowed,
                          fix="choose one of the valid kernel dirs or leave OPTIMIZED_KERNEL_DIR unset")


def _include(tflm: Path, folder: str) -> Path:
    path = Path(folder)
    return path if path.is_absolute() else tflm / path
