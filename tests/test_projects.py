"""Generated projects on the fixture tree: they build and run alone, regenerate incrementally, fail clearly.

Each built project is first copied to a temporary folder, the gen/ tree it came
from is deleted and TFLM_ROOT is unset, so a path leaking out of the project
fails the build.  The arm-none-eabi / QEMU cases skip when those tools are missing.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import FIXTURE_DEPS, FIXTURE_TREE, REPO, Fixture, copy_repo

from tflm_build.model.targets import host_arch

HOST = f"linux_{host_arch()}_default_gcc"
QEMU = "cortex_m_qemu_cortex-m3_default_gcc"
PASS = "~~~ALL TESTS PASSED~~~"
BUILD_FILES = ("Makefile", "CMakeLists.txt", ".cmake", ".json5", ".yml", ".lib", "sdkconfig.defaults", ".uvprojx",
               "library.properties")
needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None or shutil.which("qemu-system-arm") is None,
                               reason="arm-none-eabi-g++ or qemu-system-arm not found (apt-get install "
                                      "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib "
                                      "qemu-system-arm)")
needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not found (apt-get install cmake)")


def _dfp(tmp: Path, *devices: str) -> dict[str, str]:
    """A stand-in Cortex_DFP (cortex_m_qemu needs the dependency; the fixture has none)."""
    for device in devices or ("ARMCM3",):
        include = tmp / "dfp" / "Device" / device / "Include"
        include.mkdir(parents=True, exist_ok=True)
        (include / f"{device}.h").write_text("// fixture device header\n")
    (tmp / "dfp" / "LICENSE").write_text("fixture license\n")
    return {"CORTEX_DFP_DIR": str(tmp / "dfp"), "CORTEX_DFP_MODIFIED": "1"}


def _generate(fx: Fixture, *args: str, env: dict[str, str] | None = None, repo: Path | None = None):
    res = fx.scons(*args, env=env, repo=repo)
    assert res.returncode == 0, res.output
    return res


def _run(argv: list[str], cwd: Path, timeout: int = 300) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TFLM_ROOT" and not k.endswith("_DIR")}
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{argv} failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def assert_self_contained(project: Path, *outside: Path) -> None:
    """No build file names a path outside the project: no absolute path of ours, no '..' (nor '..\\')."""
    for path in project.rglob("*"):
        if not path.is_file() or not (path.name.endswith(BUILD_FILES) or path.name in BUILD_FILES):
            continue
        text = path.read_text()
        for root in (REPO, FIXTURE_TREE, *outside):
            assert str(root) not in text, f"{path} names {root}"
        assert not re.search(r"(^|[\s/\\\"'>;])\.\.[/\\]", text), f"{path} has a '../' path"


def test_host_make_and_cmake_projects_build_and_run_alone(fx: Fixture, tmp_path: Path) -> None:
    _generate(fx, "generate_hello_world_make_project", "generate_hello_world_cmake_project")
    prj = fx.gendir(HOST) / "prj" / "hello_world"
    for kind in ("make", "cmake"):
        assert_self_contained(prj / kind, fx.gen)
    copies = {kind: tmp_path / "copy" / kind for kind in ("make", "cmake")}
    for kind, dest in copies.items():
        shutil.copytree(prj / kind, dest)
    shutil.rmtree(fx.gen)
    out = _run(["make", "-j2", "run"], copies["make"])
    assert PASS in out and "float model: 23 bytes" in out
    if shutil.which("cmake"):
        _run(["cmake", "-B", "build"], copies["cmake"])
        _run(["cmake", "--build", "build", "-j2"], copies["cmake"])
        assert PASS in _run(["cmake", "--build", "build", "--target", "run"], copies["cmake"])


@needs_arm
def test_cortex_m_qemu_make_and_cmake_projects_run_under_qemu(fx: Fixture, tmp_path: Path) -> None:
    env = _dfp(tmp_path)
    _generate(fx, "TARGET=cortex_m_qemu", "generate_hello_world_make_project", "generate_hello_world_cmake_project",
              env=env)
    prj = fx.gendir(QEMU) / "prj" / "hello_world"
    files = {p.relative_to(prj / "make").as_posix() for p in (prj / "make").rglob("*") if p.is_file()}
    assert {"cortex_m_qemu/startup.c", "cortex_m_qemu/mps2-an385.ld", "third_party/cortex_dfp/LICENSE"} <= files
    assert "tensorflow/lite/micro/cortex_m_qemu/startup.c" not in files
    assert (prj / "cmake" / "arm-none-eabi.cmake").is_file()
    copies = {kind: tmp_path / "copy" / kind for kind in ("make", "cmake")}
    for kind, dest in copies.items():
        assert_self_contained(prj / kind, fx.gen, tmp_path)
        shutil.copytree(prj / kind, dest)
    shutil.rmtree(fx.gen)
    out = _run(["make", "-j2", "run"], copies["make"])
    assert PASS in out and "qemu-system-arm -M mps2-an385" in out
    assert (copies["make"] / "build" / "hello_world.bin").stat().st_size > 0
    if shutil.which("cmake"):
        _run(["cmake", "-B", "build"], copies["cmake"])
        _run(["cmake", "--build", "build", "-j2"], copies["cmake"])
        assert PASS in _run(["cmake", "--build", "build", "--target", "run"], copies["cmake"])


def test_list_goal_and_layout_of_esp_and_mbed(fx: Fixture) -> None:
    listing = _generate(fx, "list_hello_world_make_files").stdout.split()
    assert "Makefile" in listing and "THIRD_PARTY_NOTICES.md" in listing
    assert "tensorflow/lite/micro/examples/hello_world/models/hello_world_int8_model_data.cc" in listing
    assert "tensorflow/lite/micro/testing/micro_test.h" in listing  # found by following #include
    assert "third_party/flatbuffers/LICENSE" in listing
    assert not (fx.gendir(HOST) / "prj" / "hello_world" / "make").exists()  # listing writes nothing

    _generate(fx, "TARGET=esp", "TARGET_ARCH=esp32s3", "generate_hello_world_esp_project")
    esp = fx.gendir("esp_esp32s3_default_gcc") / "prj" / "hello_world" / "esp"
    assert "$ENV{IDF_PATH}/tools/cmake/project.cmake" in (esp / "CMakeLists.txt").read_text()
    component = (esp / "components/tflite-micro/CMakeLists.txt").read_text()
    assert "idf_component_register(" in component and "PUBLIC TF_LITE_STATIC_MEMORY" in component
    assert "tensorflow/lite/micro/stdio/debug_log.cc" in component
    assert (esp / "components/tflite-micro/third_party/flatbuffers/include/flatbuffers/base.h").is_file()
    main = (esp / "main/CMakeLists.txt").read_text()
    assert "esp/app_main.cc" in main and "main=tflm_example_main" in main
    assert (esp / "main/tensorflow/lite/micro/examples/hello_world/models/hello_world_float_model_data.h").is_file()
    assert "idf.py set-target esp32s3 build flash monitor" in (esp / "README.md").read_text()
    assert (esp / "sdkconfig.defaults").is_file() and not (esp / "components/tflite-micro/idf_component.yml").exists()
    assert_self_contained(esp, fx.gen)

    _generate(fx, "TARGET=mbed", "TAGS=CMSIS disco_f746ng", "generate_hello_world_mbed_project")
    mbed = fx.gendir("mbed_cortex-m_default_gcc") / "prj" / "hello_world" / "mbed"
    cmake = (mbed / "CMakeLists.txt").read_text()
    assert "set(MBED_TARGET DISCO_F746NG" in cmake and "mbed-baremetal" in cmake
    assert "tensorflow/lite/micro/kernels/cmsis_nn/add.cc" in cmake  # the CMSIS tag's kernels
    assert (mbed / "third_party/cmsis_nn/Source/FixtureFunctions/arm_fixture_add_s8.c").is_file()
    app = (mbed / "mbed_app.json5").read_text()
    assert '"target.application-profile": "bare-metal"' in app and '"CMSIS_NN"' in app and "boot-stack-size" in app
    readme = (mbed / "README.md").read_text()
    assert "mbed compile -m DISCO_F746NG -t GCC_ARM" in readme
    assert '`scons TARGET=mbed TAGS="CMSIS disco_f746ng"`' in readme  # the command, spaced as typed
    assert "mbed-ce/mbed-os#" in (mbed / "mbed-os.lib").read_text()
    assert_self_contained(mbed, fx.gen)


def test_regeneration_is_incremental_and_removes_stale_files(fx: Fixture, tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    env = {"TFLM_ROOT": str(tree)}
    goal = "generate_hello_world_make_project"
    _generate(fx, goal, env=env, repo=repo)
    prj = fx.gendir(HOST) / "prj" / "hello_world" / "make"

    def stamps() -> dict[str, int]:
        return {p.relative_to(prj).as_posix(): p.stat().st_mtime_ns for p in prj.rglob("*") if p.is_file()}

    before = stamps()
    again = _generate(fx, goal, env=env, repo=repo)
    assert "PRJ" not in again.stdout and stamps() == before  # nothing changed: nothing written
    time.sleep(0.05)
    template = repo / "project_templates" / "make" / "README.md.j2"
    template.write_text(template.read_text() + "\nEdited.\n")
    res = _generate(fx, goal, env=env, repo=repo)
    after = stamps()
    assert "(1 written, 0 removed" in res.stdout, res.stdout
    assert [f for f in after if after[f] != before[f]] == ["README.md"]
    assert (prj / "README.md").read_text().endswith("Edited.\n")

    (prj / "Makefile").unlink()  # a deleted output comes back
    _generate(fx, goal, env=env, repo=repo)
    assert (prj / "Makefile").is_file()

    (tree / "signal" / "src" / "window.cc").unlink()  # a source that no longer belongs goes away
    res = _generate(fx, goal, env=env, repo=repo)
    assert not (prj / "signal").exists() and "1 removed" in res.stdout
    assert "signal/src/window.cc" not in (prj / "Makefile").read_text()


def test_tags_specialise_and_unknown_tag_warns(fx: Fixture, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    special = tree / "tensorflow/lite/micro/fixtag/debug_log.cc"
    special.parent.mkdir()
    special.write_text('#include <cstdio>\nextern "C" void DebugLog(const char* s) { std::printf("tag:%s", s); }\n')
    res = _generate(fx, "TAGS=nosuchtag fixtag", "list_hello_world_make_files", "generate_hello_world_make_project",
                    env={"TFLM_ROOT": str(tree)})
    assert "TAGS: 'nosuchtag' matches no file" in res.stderr
    assert "'fixtag'" not in res.stderr
    prj = fx.gendir(HOST) / "prj" / "hello_world" / "make"
    assert (prj / "tensorflow/lite/micro/debug_log.cc").read_text() == special.read_text()


def _usage_error(res, *needles: str) -> None:
    assert res.returncode == 2, res.output
    assert "Traceback" not in res.output
    for needle in needles:
        assert needle in res.stderr, res.stderr


@pytest.mark.parametrize("args, needles", [
    (["generate_hello_world_nosuch_project"], ["unknown project kind 'nosuch'", "valid choices: make, cmake"]),
    (["generate_hello_world_keil_project"], ["TARGET=linux cannot produce 'keil' projects",
                                            "use TARGET=cortex_m_generic or TARGET=cortex_m_qemu"]),
    (["generate_hello_world_esp_project"], ["TARGET=linux cannot produce 'esp' projects", "use TARGET=esp"]),
    (["TARGET=esp", "generate_hello_world_make_project"], ["cannot produce 'make' projects", "valid choices: esp"]),
    (["generate_hello_wrld_make_project"], ["unknown example", "did you mean 'hello_world'"]),
    (["TARGET=cortex_m_generic", "generate_hello_world_make_project"], ["cannot produce 'make' projects",
                                                                        "valid choices: arduino, keil"]),
    (["TARGET=sparkfun_edge", "generate_hello_world_make_project",  # its SDK trees from the fixture
      *(f"{d.upper()}_{v}" for d in ("ambiq_suite_sdk", "sparkfun_bsps")
        for v in (f"DIR={FIXTURE_DEPS / d}", "MODIFIED=1"))], ["TARGET=sparkfun_edge cannot generate projects"]),
    (["list_hello_world_esp_files"], ["cannot produce 'esp' projects"]),
])
def test_bad_project_goals(fx: Fixture, tmp_path: Path, args: list[str], needles: list[str]) -> None:
    _usage_error(fx.scons(*args, env=_dfp(tmp_path)), *needles)


@pytest.mark.parametrize("text, needles", [
    ("{{ nosuch_value }}\n", ["Makefile.j2:1", "'nosuch_value' is undefined", "valid choices:"]),
    ("ok\n{% for x in %}\n", ["Makefile.j2:2", "template error"]),
])
def test_template_error_names_file_and_line_and_writes_nothing(fx: Fixture, tmp_path: Path, text: str,
                                                              needles: list[str]) -> None:
    repo = copy_repo(tmp_path / "repo")
    (repo / "project_templates" / "make" / "Makefile.j2").write_text(text)
    _usage_error(fx.scons("generate_hello_world_make_project", repo=repo), *needles)
    assert not (fx.gendir(HOST) / "prj" / "hello_world" / "make").exists()
