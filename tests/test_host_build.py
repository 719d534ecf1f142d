"""The host build on the fixture tree: goals, outputs, runs, tests, dependencies between files."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from conftest import FIXTURE_TREE, Fixture, compiled, copy_repo

from tflm_build.model.targets import host_arch

CONFIG = f"linux_{host_arch()}_default_gcc"


def test_hello_world_bin_and_run(fx: Fixture) -> None:
    res = fx.scons("hello_world_bin")
    assert res.returncode == 0, res.output
    gen = fx.gendir(CONFIG)
    assert (gen / "bin" / "hello_world").is_file()
    assert (gen / "bin" / "hello_world.bin").stat().st_size > 0
    assert (gen / "lib" / "libtensorflow-microlite.a").is_file()
    header = (gen / "genfiles/tensorflow/lite/micro/examples/hello_world/models/hello_world_float_model_data.h").read_text()
    assert "constexpr unsigned int g_hello_world_float_model_data_size = 23;" in header
    assert "extern const unsigned char g_hello_world_float_model_data[];" in header
    run = fx.scons("run_hello_world")
    assert run.returncode == 0, run.output
    assert "float model: 23 bytes" in run.stdout
    assert "~~~ALL TESTS PASSED~~~" in run.stdout
    assert "PASS  run_hello_world" in run.stdout
    example_tests = fx.scons("test_hello_world")  # the example's tests (hello_world_test)
    assert example_tests.returncode == 0, example_tests.output
    assert example_tests.stdout.strip().endswith("1 passed, 0 failed")


def test_test_goal_runs_all_then_only_changed(fx: Fixture, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    env = {"TFLM_ROOT": str(tree)}
    first = fx.scons("test", env=env)
    assert first.returncode == 0, first.output
    assert first.stdout.count("PASS  test_") == 3
    assert first.stdout.strip().endswith("3 passed, 0 failed")
    again = fx.scons("test", env=env)
    assert again.returncode == 0, again.output
    assert "PASS  test_" not in again.stdout  # cached: nothing changed
    assert again.stdout.strip().endswith("3 passed, 0 failed")
    kernel = tree / "tensorflow/lite/micro/kernels/add_test.cc"
    kernel.write_text(kernel.read_text().replace('"add kernel flavour: %s\\n"', '"flavour=%s\\n"'))
    third = fx.scons("test", env=env)
    assert third.stdout.count("PASS  test_") == 1 and "PASS  test_kernel_add_test" in third.stdout
    assert third.stdout.strip().endswith("3 passed, 0 failed")


def test_failing_test_reports_and_continues(fx: Fixture, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    test = tree / "tensorflow/lite/micro/kernels/add_test.cc"
    test.write_text(test.read_text().replace("AddKernel(2, 3) == 5", "AddKernel(2, 3) == 6"))
    res = fx.scons("test", env={"TFLM_ROOT": str(tree)})
    assert res.returncode == 1, res.output
    assert "FAIL  test_kernel_add_test: exit status 1" in res.stdout
    assert "FAIL: AddKernel(2, 3) == 6" in res.stdout  # the test's log is shown
    assert "rerun alone: scons" in res.stdout and "test_kernel_add_test" in res.stdout
    assert res.stdout.strip().endswith("2 passed, 1 failed")


def test_header_touch_rebuilds_exactly_dependents(fx: Fixture, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    env = {"TFLM_ROOT": str(tree)}
    assert fx.scons("build", env=env).returncode == 0
    noop = fx.scons("build", env=env)
    assert compiled(noop.stdout) == [], noop.stdout
    header = tree / "tensorflow/lite/micro/kernels/kernel_util.h"
    time.sleep(1.1)
    header.write_text(header.read_text() + "\n// touched\n")
    res = fx.scons("build", env=env)
    assert compiled(res.stdout) == ["add", "add_test", "kernel_util", "micro_interpreter", "mul"], res.stdout


def test_changed_flag_rebuilds(fx: Fixture, tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    assert fx.scons("microlite", repo=repo).returncode == 0
    common = repo / "targets" / "_common.yaml"
    common.write_text(common.read_text().replace("    - TF_LITE_DISABLE_X86_NEON\n",
                                                 "    - TF_LITE_DISABLE_X86_NEON\n    - FIXTURE_NEW_DEFINE\n"))
    res = fx.scons("microlite", "V=1", repo=repo)
    compiled = [line for line in res.stdout.splitlines() if " -c " in line or line.startswith("g")]
    assert compiled and all("FIXTURE_NEW_DEFINE" in line for line in compiled if "-o" in line and ".o" in line)
    assert sum(1 for line in compiled if ".o " in line or line.endswith(".o")) >= 4


def test_kernel_specialisation(fx: Fixture) -> None:
    listing = fx.scons("list_library_sources", "OPTIMIZED_KERNEL_DIR=cmsis_nn")
    assert listing.returncode == 0, listing.output
    files = set(listing.stdout.split())
    assert "tensorflow/lite/micro/kernels/cmsis_nn/add.cc" in files
    assert "tensorflow/lite/micro/kernels/add.cc" not in files
    assert "tensorflow/lite/micro/kernels/mul.cc" in files
    res = fx.scons("test_kernel_add_test", "OPTIMIZED_KERNEL_DIR=cmsis_nn")
    assert res.returncode == 0, res.output
    log = fx.gendir(f"linux_{host_arch()}_default_cmsis_nn_gcc") / "test_results" / "kernel_add_test.log"
    assert "add kernel flavour: cmsis_nn" in log.read_text()


def test_list_goals_on_fixture(fx: Fixture) -> None:
    res = fx.scons("list_library_sources")
    assert set(res.stdout.split()) == {
        "tensorflow/lite/micro/debug_log.cc", "tensorflow/lite/micro/micro_interpreter.cc",
        "tensorflow/lite/core/c/common.cc", "tensorflow/lite/micro/kernels/add.cc",
        "tensorflow/lite/micro/kernels/kernel_util.cc", "tensorflow/lite/micro/kernels/mul.cc",
        "signal/src/window.cc"}
    headers = set(fx.scons("list_library_headers").stdout.split())
    assert {"LICENSE", "tensorflow/lite/micro/micro_interpreter.h", "tensorflow/lite/micro/kernels/kernel_util.h"} <= headers
    tests = fx.scons("list_tests").stdout.split()
    assert sorted(tests) == ["hello_world_test", "kernel_add_test", "memory_helpers_test"]


def test_build_types_and_outputs(fx: Fixture) -> None:
    for build_type, define in (("release", "TF_LITE_STRIP_ERROR_STRINGS"), ("debug", "-g")):
        res = fx.scons("microlite", f"BUILD_TYPE={build_type}", "V=1")
        assert res.returncode == 0, res.output
        assert define in res.stdout
        assert (fx.gendir(f"linux_{host_arch()}_{build_type}_gcc") / "lib" / "libtensorflow-microlite.a").is_file()
    res = fx.scons("microlite", "BUILD_TYPE=no_tf_lite_static_memory", "V=1")
    assert res.returncode == 0 and "TF_LITE_STATIC_MEMORY" not in res.stdout
    res = fx.scons("microlite", "CC_VER11=true", "V=1")
    assert res.returncode == 0 and "-std=c++11" in res.stdout
    assert (fx.gen / f"linux_{host_arch()}_default_cc11_gcc").is_dir()


def test_app_outside_repo(fx: Fixture, tmp_path: Path) -> None:
    app = tmp_path / "my_app"
    (app / "models").mkdir(parents=True)
    (app / "models" / "tiny.tflite").write_bytes(b"TFL3\x01\x02")
    (app / "main.cc").write_text(
        '#include <cstdio>\n#include "models/tiny_model_data.h"\n#include "tensorflow/lite/micro/micro_interpreter.h"\n'
        'int main() { std::printf("app says %d\\n", RunModel(g_tiny_model_data, g_tiny_model_data_size, 2)); return 0; }\n')
    (app / "app.yaml").write_text(
        "description: my app\ngenerator_inputs: [models/tiny.tflite]\n"
        "programs:\n  my_app:\n    sources: [main.cc]\n    expected_output: ['app says']\n")
    res = fx.scons(f"APP={app / 'app.yaml'}", "run_my_app")
    assert res.returncode == 0, res.output
    assert "app says" in res.stdout


def test_from_another_folder_and_help(fx: Fixture, tmp_path: Path) -> None:
    res = fx.scons("-h", cwd=tmp_path)
    assert res.returncode == 0, res.output
    for word in ("TARGET", "BUILD_TYPE", "OPTIMIZED_KERNEL_DIR", "hello_world", "microlite", "linux", "run_hello_world"):
        assert word in res.stdout
    res = fx.scons("microlite", cwd=tmp_path)
    assert res.returncode == 0, res.output
