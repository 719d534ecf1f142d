"""The platformio project kind: `pio project config` parses it, `pio pkg pack` packs lib/tflm, and every
source compiles with the flags the project declares, read as PlatformIO reads them (build_flags through
SCons's ParseFlags, tflm_flags.py's CFLAGS / CXXFLAGS, library.json's srcFilter and flags); on the host
the objects link and the program runs.  What needs PlatformIO's own registry (platforms, toolchains,
frameworks: `pio run`) is not run here."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from conftest import Fixture
from test_projects import HOST, PASS, _dfp, _generate, _run, _usage_error, assert_self_contained

PIO = shutil.which("pio")
needs_pio = pytest.mark.skipif(PIO is None, reason="PlatformIO not installed (pip install '.[test]' or platformio)")
_COMPILED = (".c", ".cc", ".cpp")


def _pio(project: Path, tmp: Path, *args: str) -> str:
    env = {**os.environ, "PLATFORMIO_CORE_DIR": str(tmp / "pio-core"), "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "No"}
    proc = subprocess.run([str(PIO), *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pio {args}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _parse(flags: list[str]) -> dict[str, Any]:
    """Flags as PlatformIO's SCons sorts them (CCFLAGS, CFLAGS, CXXFLAGS, CPPDEFINES, CPPPATH, LINKFLAGS, LIBS)."""
    from SCons.Environment import Environment

    return Environment(tools=[]).ParseFlags(flags)


def _argv(parsed: list[dict[str, Any]], language: str, include_dirs: list[Path]) -> list[str]:
    argv: list[str] = []
    for p in parsed:
        argv += p.get("CCFLAGS", []) + p.get(language, [])
        for define in p.get("CPPDEFINES", []):
            argv.append(f"-D{define[0]}={define[1]}" if isinstance(define, (list, tuple)) else f"-D{define}")
    return argv + [f"-I{d}" for d in include_dirs]


def _language_flags(project: Path) -> dict[str, list[str]]:
    """What tflm_flags.py appends, by running it against a stand-in for PlatformIO's environment."""
    appended: dict[str, list[str]] = {}

    class Env:
        def Append(self, **kw: list[str]) -> None:  # noqa: N802 (SCons's name)
            appended.update(kw)

    exec((project / "tflm_flags.py").read_text(), {"Import": lambda name: None, "env": Env()})
    return appended


def _compile_all(project: Path, config: dict[str, dict[str, Any]], prefix: str, out: Path) -> list[Path]:
    """Compile every library source (srcFilter) and every source under src/; returns the objects."""
    env = config[f"env:{config['platformio']['default_envs'][0]}"]
    common = _parse(env["build_flags"])
    language = _language_flags(project)
    lib_dir = project / "lib" / "tflm"
    manifest = json.loads((lib_dir / "library.json").read_text())["build"]
    lib_flags = _parse(manifest["flags"])
    lib_includes = [(lib_dir / manifest["includeDir"]).resolve()] + [lib_dir / d for d in lib_flags["CPPPATH"]]
    jobs = [(lib_dir / manifest["srcDir"] / f[2:-1], [common, lib_flags], lib_includes)
            for f in manifest["srcFilter"]]
    src_flags = _parse(env.get("build_src_flags", []))
    jobs += [(path, [common, src_flags], [project / "src", *lib_includes])
             for path in sorted((project / "src").rglob("*")) if path.suffix in _COMPILED]
    objects = []
    for i, (source, parsed, includes) in enumerate(jobs):
        is_c = source.suffix == ".c"
        compiler = prefix + ("gcc" if is_c else "g++")
        lang = "CFLAGS" if is_c else "CXXFLAGS"
        flags = _argv(parsed, lang, includes) + language[lang]
        obj = out / f"{i}_{source.stem}.o"
        _run([compiler, *flags, "-c", str(source), "-o", str(obj)], project)
        objects.append(obj)
    return objects


def _checked_project(fx: Fixture, tmp: Path, config_name: str, *args: str, env: dict[str, str] | None = None
                     ) -> tuple[Path, dict[str, dict[str, Any]]]:
    _generate(fx, *args, "generate_hello_world_platformio_project", env=env)
    generated = fx.gendir(config_name) / "prj" / "hello_world" / "platformio"
    assert_self_contained(generated, fx.gen, tmp)
    project = tmp / "project"
    shutil.copytree(generated, project)
    shutil.rmtree(fx.gen)
    config = {section: dict(options) for section, options in json.loads(
        _pio(project, tmp, "project", "config", "--json-output"))}
    _pio(project, tmp, "pkg", "pack", "lib/tflm", "-o", str(tmp))
    with tarfile.open(tmp / "tflm-0.0.0.tar.gz") as archive:
        names = set(archive.getnames())
    sources = json.loads((project / "lib/tflm/library.json").read_text())["build"]["srcFilter"]
    assert "library.json" in names and {s[2:-1] for s in sources} <= names
    return project, config


@needs_pio
def test_native_project_parses_packs_compiles_and_runs(fx: Fixture, tmp_path: Path) -> None:
    project, config = _checked_project(fx, tmp_path, HOST)
    env = config["env:native"]
    assert env["platform"] == "native" and "pre:tflm_flags.py" in env["extra_scripts"]
    out = tmp_path / "obj"
    out.mkdir()
    objects = _compile_all(project, config, "", out)
    parsed = _parse(env["build_flags"])
    program = tmp_path / "program"
    _run(["g++", *parsed["LINKFLAGS"], *map(str, objects), "-o", str(program),
          *(f"-l{lib}" for lib in parsed["LIBS"])], project)
    assert PASS in _run([str(program)], project)


@needs_pio
@pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None, reason="arm-none-eabi-g++ not found "
                    "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib)")
def test_cortex_m_project_parses_packs_and_compiles(fx: Fixture, tmp_path: Path) -> None:
    project, config = _checked_project(fx, tmp_path, "cortex_m_generic_cortex-m4+fp_default_gcc",
                                       "TARGET=cortex_m_generic", "TARGET_ARCH=cortex-m4+fp",
                                       env=_dfp(tmp_path, "ARMCM4_FP"))
    env = config["env:nucleo_f446re"]
    assert (env["platform"], env["board"], env["framework"]) == ("ststm32", "nucleo_f446re", ["cmsis"])
    assert "-mcpu=cortex-m4" in env["build_flags"] and "-mfloat-abi=hard" in env["build_flags"]
    out = tmp_path / "obj"
    out.mkdir()
    for obj in _compile_all(project, config, "arm-none-eabi-", out):
        assert obj.read_bytes()[:4] == b"\x7fELF" and obj.read_bytes()[18] == 40  # e_machine EM_ARM


def test_platformio_bad_input(fx: Fixture, tmp_path: Path) -> None:
    _usage_error(fx.scons("TARGET=cortex_m_generic", "TARGET_ARCH=cortex-m55", "generate_hello_world_platformio_project",
                          env=_dfp(tmp_path, "ARMCM55")),
                 "no PlatformIO board for TARGET_ARCH=cortex-m55", "boards.yaml", "cortex-m4+fp")
    _usage_error(fx.scons("TARGET=cortex_m_qemu", "generate_hello_world_platformio_project", env=_dfp(tmp_path)),
                 "TARGET=cortex_m_qemu cannot produce 'platformio' projects",
                 "use TARGET=cortex_m_generic or TARGET=linux")
    assert not (fx.gen / "cortex_m_generic_cortex-m55_default_gcc" / "prj" / "hello_world" / "platformio").exists()
