"""Precompiled headers on the fixture tree: same objects as without, exact rebuilds, PCH=0 builds none."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import FIXTURE_TREE, Fixture, compiled

from tflm_build.build.objsections import differing, sections
from tflm_build.model.targets import host_arch

CONFIG = f"linux_{host_arch()}_default_gcc"
KERNELS = "tensorflow/lite/micro/kernels"
KERNEL_UTIL = """// Fixture kernel helpers; every kernel includes this header.
#ifndef FIXTURE_KERNEL_UTIL_H_
#define FIXTURE_KERNEL_UTIL_H_
int AddKernel(int a, int b);
int MulKernel(int a, int b);
const char* AddKernelFlavour();
#ifdef FIXTURE_WIDE
typedef long long fixture_int;
#else
typedef short fixture_int;
#endif
inline int FixtureWidth() { return static_cast<int>(sizeof(fixture_int)); }
#endif
"""
EXTRA = {
    # Includes none of the kernels' PCH: compiled without it (loading it would cost more than it saves).
    f"{KERNELS}/other.cc": '#include "tensorflow/lite/micro/debug_log.h"\nint OtherKernel() { return 7; }\n',
    f"{KERNELS}/sub.cc": '#include <cstdint>\n#include "tensorflow/lite/micro/kernels/kernel_util.h"\n'
                         '#include "tensorflow/lite/micro/kernels/sub_bias.h"\n'
                         "int SubKernel(int a, int b) { return a - b + FixtureWidth() + kSubBias; }\n",
    # Included by one user only: outside the kernels' PCH, but still a dependency of sub.o.
    f"{KERNELS}/sub_bias.h": "#ifndef SUB_BIAS_H_\n#define SUB_BIAS_H_\nconst int kSubBias = 0;\n#endif\n",
    # Defines a macro the header reads before including it: must not use the PCH (it would get 2, not 8).
    f"{KERNELS}/wide.cc": '#define FIXTURE_WIDE\n#include "tensorflow/lite/micro/kernels/kernel_util.h"\n'
                          "int WideWidth() { return FixtureWidth(); }\n",
}


def _tree(tmp: Path) -> Path:
    tree = tmp / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    (tree / KERNELS / "kernel_util.h").write_text(KERNEL_UTIL)
    for rel, text in EXTRA.items():
        (tree / rel).write_text(text)
    return tree


def _object(gen: Path, stem: str) -> Path:
    return next((gen / "obj").rglob(f"{stem}.o"))


@pytest.mark.parametrize("toolchain,suffix", [("gcc", ".gch"), pytest.param("clang", ".pch", marks=pytest.mark.skipif(
    shutil.which("clang++") is None, reason="clang not installed (apt-get install clang)"))])
def test_same_objects_with_and_without_pch(fx: Fixture, tmp_path: Path, toolchain: str, suffix: str) -> None:
    env = {"TFLM_ROOT": str(_tree(tmp_path))}
    with_pch = fx.scons(f"TOOLCHAIN={toolchain}", "PCH=1", "build", "run_hello_world", "V=1", env=env)
    assert with_pch.returncode == 0, with_pch.output
    without = fx.scons(f"GEN_DIR={tmp_path / 'gen-nopch'}", f"TOOLCHAIN={toolchain}", "PCH=0", "build",
                       "run_hello_world", "V=1", env=env)
    assert without.returncode == 0, without.output
    config = CONFIG.replace("_gcc", f"_{toolchain}")
    gen, gen0 = fx.gendir(config), tmp_path / "gen-nopch" / config
    # The kernels' PCH was built with the kernels' flags and used (gcc warns when it cannot, clang fails).
    pch = gen / "pch" / "kernels-cxx" / "tflm_pch.h"
    assert '#include "tensorflow/lite/micro/kernels/kernel_util.h"' in pch.read_text()
    assert Path(f"{pch}{suffix}").stat().st_size > 0
    lines = with_pch.stdout.splitlines()
    for stem, uses in (("add", True), ("sub", True), ("other", False), ("wide", False), ("debug_log", False)):
        line = next(x for x in lines if x.endswith(f"/{stem}.cc") and " -c " in x)
        assert (f"-include {pch}" in line) is uses, line
    assert "-O2" in next(x for x in lines if f"tflm_pch.h{suffix}" in x and "c++-header" in x)
    assert "not used because" not in with_pch.output
    # PCH=0: no precompiled header at all, no -include.
    assert not list(gen0.rglob("*.gch")) and "-include" not in without.stdout
    # Every object's code, data and relocations are the same; the program prints the same.
    assert len(list(gen.rglob("*.o"))) >= 10
    assert differing("objdump", gen / "obj", gen0 / "obj") == []
    assert sections("objdump", _object(gen, "wide")) != sections("objdump", _object(gen, "sub"))
    run = (gen / "run" / "hello_world.log").read_text()
    assert "~~~ALL TESTS PASSED~~~" in run and run == (gen0 / "run" / "hello_world.log").read_text()


def test_header_edit_rebuilds_pch_and_its_users_only(fx: Fixture, tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    env = {"TFLM_ROOT": str(tree)}
    assert fx.scons("PCH=1", "build", env=env).returncode == 0
    noop = fx.scons("build", env=env)  # PCH=auto: the compiled headers are there, so they are used
    assert compiled(noop.stdout) == [] and "PCH" not in noop.stdout, noop.stdout
    header = tree / KERNELS / "kernel_util.h"
    time.sleep(1.1)
    header.write_text(KERNEL_UTIL.replace("int MulKernel", "int FixtureAdded();\nint MulKernel"))
    res = fx.scons("build", env=env)
    assert res.returncode == 0, res.output
    pch_steps = [x for x in res.stdout.splitlines() if "] PCH" in x]
    assert len(pch_steps) == 1 and pch_steps[0].endswith("kernels-cxx/tflm_pch.h.gch"), res.stdout
    # The kernels' PCH users, and the sources including the header without the PCH: wide.cc,
    # micro_interpreter.cc (core) and the test add_test.cc; not other.cc, which includes neither.
    assert compiled(res.stdout) == ["add", "add_test", "kernel_util", "micro_interpreter", "mul", "sub",
                                    "wide"], res.stdout
    # A header outside every PCH: only its dependents.
    debug_log = tree / "tensorflow/lite/micro/debug_log.h"
    time.sleep(1.1)
    debug_log.write_text(debug_log.read_text() + "\n// edited\n")
    res = fx.scons("build", env=env)
    assert "] PCH" not in res.stdout and compiled(res.stdout) == ["debug_log", "other"], res.stdout
    # A header outside the PCH that a user includes: that user, though it leaves the PCH's headers
    # to the digest in its build signature.
    bias = tree / KERNELS / "sub_bias.h"
    time.sleep(1.1)
    bias.write_text(bias.read_text().replace("= 0", "= 1"))
    res = fx.scons("build", env=env)
    assert "] PCH" not in res.stdout and compiled(res.stdout) == ["sub"], res.stdout
    assert compiled(fx.scons("build", env=env).stdout) == []


@pytest.mark.skipif(shutil.which("ccache") is None, reason="ccache not installed (apt-get install ccache)")
def test_ccache_serves_pch_and_its_users(fx: Fixture, tmp_path: Path) -> None:
    env = {"TFLM_ROOT": str(_tree(tmp_path)), "CCACHE_DIR": str(tmp_path / "ccache")}
    first = fx.scons("COMPILER_LAUNCHER=ccache", "PCH=1", "build", env=env)
    assert first.returncode == 0, first.output
    steps = sum(("] CXX" in x or "] PCH" in x) for x in first.stdout.splitlines())
    shutil.rmtree(fx.gen)
    second = fx.scons("COMPILER_LAUNCHER=ccache", "PCH=1", "build", env=env)
    assert second.returncode == 0 and "not used because" not in second.output, second.output
    stats = subprocess.run(["ccache", "--print-stats"], env={**os.environ, **env}, capture_output=True, text=True,
                           check=True).stdout
    hits = dict(line.split("\t") for line in stats.splitlines())
    assert int(hits["direct_cache_hit"]) + int(hits["preprocessed_cache_hit"]) == steps, stats


def test_cache_dir_restores_pch_that_later_compiles_use(fx: Fixture, tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    env = {"TFLM_ROOT": str(tree)}
    cache = f"CACHE_DIR={tmp_path / 'objects'}"
    assert fx.scons(cache, "PCH=1", "build", env=env).returncode == 0
    shutil.rmtree(fx.gen)
    restored = fx.scons(cache, "PCH=1", "build", env=env)
    assert restored.returncode == 0 and compiled(restored.stdout) == [], restored.stdout
    assert next(fx.gen.rglob("tflm_pch.h.gch")).stat().st_size > 0
    kernel = tree / KERNELS / "sub.cc"
    kernel.write_text(kernel.read_text().replace("a - b", "b - a"))
    res = fx.scons(cache, "PCH=1", "build", "V=1", env=env)
    assert res.returncode == 0 and "not used because" not in res.output, res.output
    assert [x for x in res.stdout.splitlines() if " -c " in x and "-include" in x and x.endswith("sub.cc")]
    assert "c++-header" not in res.stdout


def test_auto_builds_a_pch_only_for_enough_users_and_switching_rebuilds_no_object(fx: Fixture, tmp_path: Path) -> None:
    env = {"TFLM_ROOT": str(_tree(tmp_path))}
    # PCH=auto (the default): the fixture's groups have fewer users than MIN_USERS, so no compiled header.
    auto = fx.scons("build", "V=1", env=env)
    assert auto.returncode == 0, auto.output
    assert not list(fx.gen.rglob("*.gch")) and "-include" not in auto.stdout, auto.stdout[-2000:]
    assert " -c " in auto.stdout and "tflm_pch.h.deps" not in auto.stdout
    # PCH=1 compiles the headers; the objects are the same either way, so none is compiled again.
    always = fx.scons("PCH=1", "build", env=env)
    assert always.returncode == 0, always.output
    pch_steps = [x for x in always.stdout.splitlines() if "] PCH" in x]
    assert compiled(always.stdout) == [] and len(pch_steps) == 1 and "kernels-cxx" in pch_steps[0], always.stdout
    # Now that they exist, PCH=auto uses them; an edited kernel compiles through the kernels' one.
    kernel = Path(env["TFLM_ROOT"]) / KERNELS / "sub.cc"
    kernel.write_text(kernel.read_text().replace("a - b", "b - a"))
    res = fx.scons("build", "V=1", env=env)
    compiles = [x for x in res.stdout.splitlines() if " -c " in x]
    assert res.returncode == 0 and len(compiles) == 1 and compiles[0].endswith("/sub.cc"), res.stdout
    assert "-include" in compiles[0] and "c++-header" not in res.stdout, res.stdout
    # PCH=0 declares no compiled header and no stamp: the users are compiled again, without -include.
    off = fx.scons("PCH=0", "build", "V=1", env=env)
    compiles = [x for x in off.stdout.splitlines() if " -c " in x]
    assert off.returncode == 0 and any(x.endswith("/sub.cc") for x in compiles), off.stdout
    assert "-include" not in off.stdout and "c++-header" not in off.stdout, off.stdout


def test_choice_cache_keeps_one_file_a_choice_until_a_file_it_read_changes(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tflm_build.build import pch_select

    include = tmp_path / "inc"
    include.mkdir()
    header = include / "common.h"
    header.write_text("#ifndef COMMON_H_\n#define COMMON_H_\nint Common();\n#endif\n")
    sources = []
    for name in ("a", "b", "c"):
        sources.append(tmp_path / f"{name}.cc")
        sources[-1].write_text('#include "common.h"\nint F() { return Common(); }\n')
    program = tmp_path / "main.cc"
    program.write_text('#include "common.h"\nint main() { return Common(); }\n')
    time.sleep(2.1)  # outside the racy window: the choices may be kept
    folder = tmp_path / "choices"
    first = pch_select.ChoiceCache(folder).choose("core-cxx", sources, [include])
    assert first.headers == ('"common.h"',) and len(first.users) == 3 and first.held == (str(header),)
    assert pch_select.ChoiceCache(folder).uses("core-cxx", program, [include], first)
    assert len(list(folder.glob("*.json"))) == 2  # the group's choice and the program source's
    # Kept: a new run answers without choosing again.
    with monkeypatch.context() as patch:
        patch.setattr(pch_select, "choose", lambda *a: pytest.fail("chosen again"))
        patch.setattr(pch_select, "may_use", lambda *a: pytest.fail("decided again"))
        assert pch_select.ChoiceCache(folder).choose("core-cxx", sources, [include]) == first
        assert pch_select.ChoiceCache(folder).uses("core-cxx", program, [include], first)
    # A file it read changes: chosen again, with another digest.
    header.write_text(header.read_text().replace("int Common();", "int Common();\nint More();"))
    again = pch_select.ChoiceCache(folder).choose("core-cxx", sources, [include])
    assert again.headers == first.headers and again.digest != first.digest
