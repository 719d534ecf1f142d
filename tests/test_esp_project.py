"""ESP-IDF projects: every source compiles with the flags its CMake files declare, without ESP-IDF.

The generated components/tflite-micro/CMakeLists.txt and main/CMakeLists.txt are read the way
ESP-IDF 5 reads them (idf_component_register SRCS / INCLUDE_DIRS / REQUIRES, target_compile_*
PUBLIC / PRIVATE, set_source_files_properties), and each source file is compiled with:
  - ESP-IDF's own flags for every component (ESP_IDF_FLAGS below, copied from the
    compile_commands.json ESP-IDF v5.5.5 writes for this project with CONFIG_COMPILER_OPTIMIZATION_PERF,
    C++ without exceptions and RTTI; Xtensa-only -mlongcalls left out), notably -Werror=all;
  - the include dirs, defines and options the project's CMake files give that file
    (tflite-micro's INCLUDE_DIRS and PUBLIC defines reach main through REQUIRES);
  - stand-ins for the three ESP-IDF headers our glue includes (freertos/FreeRTOS.h,
    freertos/task.h, esp_timer.h: the declarations it uses, as ESP-IDF declares them),
    visible only to components that REQUIRE freertos / esp_timer.
It runs with the host g++ and, when installed, arm-none-eabi-g++ (32-bit newlib, int32_t is
`long` as on Espressif's toolchains).  On the fixture tree it is quick; with TFLM_ROOT set
(pytest -m tflm) it compiles the real hello_world project (about 200 files).

The acceptance check against a real ESP-IDF (configure with idf.py, compile with the commands
from build/compile_commands.json) is DEVELOPERS.md's "ESP-IDF projects" section.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURE_TREE, Fixture, fixture_env, real_tflm, run_scons

# ESP-IDF v5.5.5, idf.py set-target esp32, sdkconfig.defaults as generated (PERF, no exceptions/RTTI).
ESP_IDF_DEFINES = ["-DESP_PLATFORM", '-DIDF_VER="v5.5.5"', "-D_GLIBCXX_USE_POSIX_SEMAPHORE",
                   "-D_GLIBCXX_HAVE_POSIX_SEMAPHORE", "-D_GNU_SOURCE", "-D_POSIX_READER_WRITER_LOCKS"]
ESP_IDF_FLAGS = ["-Wno-frame-address", "-fno-builtin-memcpy", "-fno-builtin-memset", "-fno-builtin-bzero",
                 "-ffunction-sections", "-fdata-sections", "-Wall", "-Werror=all",
                 "-Wno-error=unused-function", "-Wno-error=unused-variable", "-Wno-error=unused-but-set-variable",
                 "-Wno-error=deprecated-declarations", "-Wextra", "-Wno-error=extra", "-Wno-unused-parameter",
                 "-Wno-sign-compare", "-Wno-enum-conversion", "-O2", "-fstrict-volatile-bitfields",
                 "-fno-jump-tables", "-fno-tree-switch-conversion"]
ESP_IDF_CXX = ["-std=gnu++2b", "-fno-exceptions", "-fuse-cxa-atexit", "-fno-rtti"]
ESP_IDF_C = ["-std=gnu17"]

STUBS = {  # component -> {header: text}; declarations as in ESP-IDF 5.x
    "freertos": {
        "freertos/FreeRTOS.h": "#pragma once\n#include <stdint.h>\ntypedef uint32_t TickType_t;\n"
                               "typedef long BaseType_t;\n#define portTICK_PERIOD_MS ((TickType_t)10)\n",
        "freertos/task.h": "#pragma once\n#include \"freertos/FreeRTOS.h\"\n#ifdef __cplusplus\nextern \"C\" {\n"
                           "#endif\nvoid vTaskDelay(const TickType_t xTicksToDelay);\n#ifdef __cplusplus\n}\n#endif\n",
    },
    "esp_timer": {
        "esp_timer.h": "#pragma once\n#include <stdint.h>\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n"
                       "int64_t esp_timer_get_time(void);\n#ifdef __cplusplus\n}\n#endif\n",
    },
}


def _commands(text: str) -> list[tuple[str, list[str]]]:
    """CMake commands of a (simple) CMakeLists.txt as (name, arguments), quotes removed."""
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    out = []
    for name, body in re.findall(r"(\w+)\s*\(([^()]*)\)", text):
        out.append((name, [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"|[^\s"]+', body)]))
    return out


def _parse(cmake: Path) -> dict:
    """What one component's CMakeLists.txt declares."""
    var: dict[str, list[str]] = {}
    comp = {"srcs": [], "include_dirs": [], "requires": [], "public": [], "private": [], "options": [],
            "file_options": {}, "file_defines": {}}

    def expand(args: list[str]) -> list[str]:
        res = []
        for a in args:
            m = re.fullmatch(r"\$\{(\w+)\}", a)
            res.extend(var.get(m.group(1), []) if m and m.group(1) != "COMPONENT_LIB" else [a])
        return res

    for name, args in _commands(cmake.read_text()):
        if name == "set":
            var[args[0]] = expand(args[1:])
        elif name == "idf_component_register":
            key = None
            for a in expand(args):
                if a in ("SRCS", "INCLUDE_DIRS", "REQUIRES", "PRIV_REQUIRES", "PRIV_INCLUDE_DIRS"):
                    key = {"SRCS": "srcs", "INCLUDE_DIRS": "include_dirs", "PRIV_INCLUDE_DIRS": "include_dirs",
                           "REQUIRES": "requires", "PRIV_REQUIRES": "requires"}[a]
                else:
                    comp[key].append(a)
        elif name == "target_compile_definitions":
            comp["public" if args[1] == "PUBLIC" else "private"] += args[2:]
        elif name == "target_compile_options":
            assert args[1] == "PRIVATE", args
            comp["options"] += args[2:]
        elif name == "set_source_files_properties":
            i = args.index("PROPERTIES")
            files, prop, value = expand(args[:i]), args[i + 1], args[i + 2:]
            key = {"COMPILE_OPTIONS": "file_options", "COMPILE_DEFINITIONS": "file_defines"}[prop]
            for f in files:
                comp[key][f] = value
    return comp


def _options(options: list[str], cxx: bool) -> list[str]:
    out = []
    for o in options:
        m = re.fullmatch(r"\$<\$<COMPILE_LANGUAGE:(\w+)>:(.*)>", o)
        if m:
            out += m.group(2).split(";") if (m.group(1) == "CXX") == cxx else []
        else:
            out.append(o)
    return out


def _jobs(project: Path, stubs: Path) -> list[tuple[Path, list[str]]]:
    lib_dir, main_dir = project / "components" / "tflite-micro", project / "main"
    lib, main = _parse(lib_dir / "CMakeLists.txt"), _parse(main_dir / "CMakeLists.txt")
    assert "tflite-micro" in main["requires"]

    def stub_dirs(requires: list[str]) -> list[str]:
        return [f"-I{stubs / r}" for r in requires if r in STUBS]

    lib_public = [f"-I{lib_dir / d}" for d in lib["include_dirs"]] + [f"-D{d}" for d in lib["public"]]
    jobs = []
    for comp, root, flags in (
        (lib, lib_dir, lib_public + stub_dirs(lib["requires"]) + [f"-D{d}" for d in lib["private"]]),
        (main, main_dir, [f"-I{main_dir / d}" for d in main["include_dirs"]] + lib_public
         + stub_dirs(main["requires"] + lib["requires"]) + [f"-D{d}" for d in main["private"]]),
    ):
        for src in comp["srcs"]:
            cxx = not src.endswith(".c")
            file_flags = ([f"-D{d}" for d in comp["file_defines"].get(src, [])]
                          + _options(comp["options"], cxx) + comp["file_options"].get(src, []))
            jobs.append((root / src, ESP_IDF_DEFINES + flags + ESP_IDF_FLAGS + (ESP_IDF_CXX if cxx else ESP_IDF_C)
                         + file_flags))
    return jobs


def _write_stubs(tmp: Path) -> Path:
    for component, headers in STUBS.items():
        for name, text in headers.items():
            (tmp / "stubs" / component / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / "stubs" / component / name).write_text(text)
    return tmp / "stubs"


def _compilers() -> list[str]:
    return [c for c in ("g++", "arm-none-eabi-g++") if shutil.which(c)]


def _compile_all(project: Path, tmp: Path) -> None:
    jobs = _jobs(project, _write_stubs(tmp))
    # every C/C++ file of the project is a source, or is #included by one (kissfft's .c files)
    on_disk = {p for p in project.rglob("*") if p.suffix in (".c", ".cc", ".cpp")}
    listed = {src for src, _ in jobs}
    assert all(p.is_file() for p in listed), sorted(str(p) for p in listed if not p.is_file())
    for extra in on_disk - listed:
        assert extra.suffix == ".c" and any(extra.name in s.read_text() for s in listed if s.is_file()), extra

    def run(job: tuple[Path, list[str]], compiler: str) -> str | None:
        src, flags = job
        cc = compiler if src.suffix != ".c" else compiler.replace("g++", "gcc")
        proc = subprocess.run([cc, *flags, "-c", str(src), "-o", os.devnull], capture_output=True, text=True)
        return None if proc.returncode == 0 else f"{cc} {src}:\n{proc.stderr[-2000:]}"

    for compiler in _compilers():
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            failures = [f for f in pool.map(lambda j: run(j, compiler), jobs) if f]
        assert not failures, "\n".join(failures[:5])


def _generate(fx: Fixture, *args: str, env: dict[str, str] | None = None) -> None:
    res = fx.scons("TARGET=esp", *args, "generate_hello_world_esp_project", env=env)
    assert res.returncode == 0, res.output


# TFLM's DebugLog API since 2024 (the fixture tree still has the older DebugLog(const char*), which
# the shared stdio glue targets/_glue/stdio/debug_log.cc cannot implement).
DEBUG_LOG_H = """#pragma once
#include <cstdarg>
#include <cstddef>
extern "C" {
void DebugLog(const char* format, va_list args);
int DebugVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist);
}
"""


@pytest.mark.skipif(not _compilers(), reason="no g++")
def test_esp_project_compiles_with_its_cmake_flags(fx: Fixture, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    (tree / "tensorflow/lite/micro/debug_log.h").write_text(DEBUG_LOG_H)
    _generate(fx, env=fixture_env(tmp_path, tree))
    _compile_all(fx.gendir("esp_esp32_default_gcc") / "prj" / "hello_world" / "esp", tmp_path)


def test_esp_nn_project_asks_for_esp_nn(fx: Fixture, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    kernels = tree / "tensorflow/lite/micro/kernels"
    (kernels / "esp_nn").mkdir()
    shutil.copy(kernels / "add.cc", kernels / "esp_nn" / "add.cc")
    _generate(fx, "TARGET_ARCH=esp32s3", "OPTIMIZED_KERNEL_DIR=esp_nn", env=fixture_env(tmp_path, tree))
    project = fx.gendir("esp_esp32s3_default_esp_nn_gcc") / "prj" / "hello_world" / "esp"
    manifest = yaml.safe_load((project / "components/tflite-micro/idf_component.yml").read_text())
    assert manifest["dependencies"]["espressif/esp-nn"].startswith("^1.")
    lib = _parse(project / "components/tflite-micro/CMakeLists.txt")
    assert "esp-nn" in lib["requires"] and "ESP_NN" in lib["private"]
    assert "tensorflow/lite/micro/kernels/esp_nn/add.cc" in lib["srcs"]
    assert "tensorflow/lite/micro/kernels/add.cc" not in lib["srcs"]


@pytest.mark.tflm
@pytest.mark.slow
@pytest.mark.skipif(real_tflm() is None or not _compilers(), reason="skipped: set TFLM_ROOT to a TFLM tree at the pin")
def test_real_esp_project_compiles_with_its_cmake_flags(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SCONSFLAGS"}
    res = run_scons([f"GEN_DIR={tmp_path / 'gen'}", "TARGET=esp", "generate_hello_world_esp_project"], env)
    assert res.returncode == 0, res.output
    _compile_all(tmp_path / "gen" / "esp_esp32_default_gcc" / "prj" / "hello_world" / "esp", tmp_path)
