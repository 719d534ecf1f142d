"""The build configuration: Make's variable names, their defaults, checks and the gen/ folder.

Variables come from the command line (``scons TARGET=... BUILD_TYPE=...``);
paths (TFLM_ROOT, <NAME>_DIR, TOOLCHAIN_ROOT) may also come from the
environment.  Every value is checked here, before any work, so a typo fails
at once with the valid choices.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ..errors import ConfigError, closest, user_path


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    help: str
    from_env: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable("TARGET", "linux" if sys.platform.startswith("linux") else sys.platform,
             "platform to build for: a file targets/<TARGET>.yaml"),
    Variable("TARGET_ARCH", "", "architecture within the target (default: the target's)"),
    Variable("OPTIMIZED_KERNEL_DIR", "", "kernels/<dir> whose files replace the reference kernels (e.g. cmsis_nn)"),
    Variable("CO_PROCESSOR", "", "kernels/<dir> of a co-processor, applied after OPTIMIZED_KERNEL_DIR (e.g. ethos_u)"),
    Variable("BUILD_TYPE", "default", "default | debug | release | release_with_logs | no_tf_lite_static_memory"),
    Variable("TOOLCHAIN", "", "compiler family: gcc or clang (default: the target's)"),
    Variable("CC_VER11", "false", "true builds with -std=c++11 / -std=c11 instead of c++17 / c17"),
    Variable("TAGS", "", "space-separated tags for file specialisation in generated projects"),
    Variable("APP", "", "path to your own application's YAML (same format as examples/*.yaml)"),
    Variable("TFLM_ROOT", "", "a TFLM source tree to use instead of the fetched one", from_env=True),
    Variable("TOOLCHAIN_ROOT", "", "folder holding the compiler's bin/ (or the bin/ itself)", from_env=True),
    Variable("MODEL_AWARE", "1", "1: compile only the kernels an example's models use; 0: the full library"),
    Variable("V", "0", "1 prints full command lines"),
    Variable("TEST_TIMEOUT", "", "seconds before a hung test or run is killed (default: the target's)"),
    Variable("PORT", "", "serial port for flash_<example> goals"),
    Variable("PROJECT_KERNELS", "all", "all: generated projects get every kernel; model: only those the example's "
             "models need"),
    Variable("GDB_BATCH", "", "a gdb command file: debug_<program> runs it in batch mode after stopping at main",
             from_env=True),
    Variable("GEN_DIR", "gen", "where outputs go (make's BASE_GENDIR); relative to the repository", from_env=True),
    Variable("CACHE_DIR", "", "SCons CacheDir shared by checkouts and machines (default: $TFLM_BUILD_CACHE_DIR)"),
    Variable("COMPILER_LAUNCHER", "", "ccache | sccache | distcc | icecc (or a path): prefixes every compile"),
    Variable("PCH", "auto", "auto: a precompiled header per compile group when the build compiles enough of its "
             "users (gcc, clang; off under distcc/icecc); 1: whenever a group has one; 0: none"),
)

BUILD_TYPES = ("default", "debug", "release", "release_with_logs", "no_tf_lite_static_memory")


@dataclass
class Config:
    """Validated values of every variable, plus the dependency folders given."""

    values: dict[str, str]
    dep_dirs: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def flag(self, name: str) -> bool:
        return self.values[name].lower() in {"1", "true", "yes", "on"}

    def pch(self) -> str:
        """PCH as ``auto``, ``1`` (always) or ``0`` (none)."""
        return "auto" if self.values["PCH"].lower() == "auto" else "1" if self.flag("PCH") else "0"

    def gen_name(self, target: str, arch: str, toolchain: str) -> str:
        """gen/<TARGET>_<TARGET_ARCH>_<BUILD_TYPE>[_<OKD>][_<CO_PROCESSOR>]_<toolchain> as make names it."""
        parts = [target, arch, self["BUILD_TYPE"]]
        parts += [p for p in (self["OPTIMIZED_KERNEL_DIR"], self["CO_PROCESSOR"]) if p]
        if self.flag("CC_VER11"):
            parts.append("cc11")
        parts.append(toolchain)
        return "_".join(parts)


def parse(arguments: Mapping[str, str], environ: Mapping[str, str],
          dep_var_names: Callable[[], set[str]]) -> Config:
    """Check every NAME=value against the known variables and return the configuration."""
    known = {v.name: v for v in VARIABLES}
    values: dict[str, str] = {}
    dep_dirs: dict[str, str] = {}
    dep_vars: set[str] | None = None
    for name, value in arguments.items():
        if name in known:
            values[name] = value
            continue
        if dep_vars is None:
            dep_vars = dep_var_names()
        stem = name.removesuffix("_MODIFIED")
        if name in dep_vars or (stem != name and (stem in dep_vars or f"{stem}_DIR" in dep_vars)):
            dep_dirs[name] = value
            continue
        choices = sorted(known) + sorted(dep_vars)
        near = closest(name, choices)
        raise ConfigError(f"unknown variable {name}={value}", choices=sorted(known),
                          fix=f"did you mean {near}=?" if near else "run 'scons -h' for the variables and their values")
    for var in VARIABLES:
        if var.name not in values:
            values[var.name] = environ.get(var.name, var.default) if var.from_env else var.default
    if values["BUILD_TYPE"] not in BUILD_TYPES:
        raise ConfigError(f"unknown BUILD_TYPE '{values['BUILD_TYPE']}'", key="BUILD_TYPE", choices=BUILD_TYPES,
                          fix=_near(values["BUILD_TYPE"], BUILD_TYPES))
    yes_no = {"0", "1", "true", "false", "yes", "no", "on", "off"}
    for flag in ("CC_VER11", "MODEL_AWARE", "V"):
        if values[flag].lower() not in yes_no:
            raise ConfigError(f"{flag}={values[flag]} is not a yes/no value", key=flag,
                              choices=("true", "false", "1", "0"), fix=f"write {flag}=true or {flag}=false")
    if values["PCH"].lower() not in yes_no | {"auto"}:
        raise ConfigError(f"PCH={values['PCH']} is not auto or a yes/no value", key="PCH", choices=("auto", "1", "0"),
                          fix="write PCH=auto (the default), PCH=1 (every group's) or PCH=0 (none)")
    if values["PROJECT_KERNELS"] not in ("all", "model"):
        raise ConfigError(f"unknown PROJECT_KERNELS '{values['PROJECT_KERNELS']}'", key="PROJECT_KERNELS",
                          choices=("all", "model"), fix="write PROJECT_KERNELS=all (the default) or PROJECT_KERNELS=model")
    if values["TEST_TIMEOUT"] and not values["TEST_TIMEOUT"].isdigit():
        raise ConfigError(f"TEST_TIMEOUT={values['TEST_TIMEOUT']} is not a number of seconds", key="TEST_TIMEOUT",
                          fix="write e.g. TEST_TIMEOUT=120")
    return Config(values, dep_dirs)


def _near(value: str, choices: tuple[str, ...]) -> str:
    near = closest(value, choices)
    return f"did you mean '{near}'?" if near else "use one of the valid choices"


def check_tflm_root(path: str) -> Path:
    """TFLM_ROOT must be a TFLM source tree (it holds tensorflow/lite/micro/micro_interpreter.h)."""
    root = user_path(path, "TFLM_ROOT")
    if not root.is_dir():
        raise ConfigError(f"TFLM_ROOT={path} does not exist", key="TFLM_ROOT",
                          fix="point TFLM_ROOT at a checkout of tensorflow/tflite-micro, or unset it to fetch the pinned one")
    if not (root / "tensorflow/lite/micro/micro_interpreter.h").is_file():
        raise ConfigError(f"TFLM_ROOT={path} is not a TFLM tree (no tensorflow/lite/micro/micro_interpreter.h)",
                          key="TFLM_ROOT", fix="point TFLM_ROOT at the top folder of a tflite-micro checkout")
    return root.resolve()
