"""The cmake project as a package: another CMake project links tflm::tflm, by add_subdirectory and by
find_package after `cmake --install`, gets C++17 and TFLM's public symbols, and keeps its own flags
(RTTI, exceptions: TFLM's -fno-rtti / -fno-exceptions are private).  A consumer asking for an older
standard is stopped at configure time with one message."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Fixture
from test_projects import HOST, _generate, _run, needs_cmake

MODEL = (1, 2, 3)
CONSUMER_CMAKE = """cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
if(TFLM_SOURCE)
  add_subdirectory(${TFLM_SOURCE} tflm)
else()
  find_package(tflm 0 REQUIRED CONFIG)
endif()
add_executable(consumer main.cc)
target_link_libraries(consumer PRIVATE tflm::tflm)
"""
CONSUMER_MAIN = """#include <cstdio>
#include <stdexcept>
#include <typeinfo>
#include "tensorflow/lite/micro/micro_interpreter.h"

static_assert(__cplusplus >= 201703L, "tflm::tflm asks for C++17");
#ifndef TF_LITE_STATIC_MEMORY
#error "TF_LITE_STATIC_MEMORY (read by TFLM's headers) must reach the consumer"
#endif
#ifdef TF_LITE_USE_CTIME
#error "TF_LITE_USE_CTIME is TFLM's own business"
#endif

int main() {
  const unsigned char model[] = {%s};
  int result = 0;
  try {  // needs exceptions and RTTI: TFLM's -fno-exceptions / -fno-rtti must not reach us
    throw std::runtime_error(typeid(model).name());
  } catch (const std::exception&) {
    result = RunModel(model, sizeof(model), 1);
  }
  std::printf("consumer: RunModel = %%d\\n", result);
  return 0;
}
""" % ", ".join(map(str, MODEL))


def consumer(folder: Path, main: str = CONSUMER_MAIN) -> Path:
    """A consumer project: CONSUMER_CMAKE and ``main`` as main.cc."""
    folder.mkdir(parents=True)
    (folder / "CMakeLists.txt").write_text(CONSUMER_CMAKE)
    (folder / "main.cc").write_text(main)
    return folder


def _expected() -> str:
    """The fixture's RunModel: (input + byte sum % 7) * 2."""
    return f"consumer: RunModel = {(1 + sum(MODEL) % 7) * 2}"


@pytest.fixture
def package(fx: Fixture, tmp_path: Path) -> Path:
    """The generated host cmake project, copied out of gen/ (which is then removed)."""
    _generate(fx, "generate_hello_world_cmake_project")
    copy = tmp_path / "tflm_package"
    shutil.copytree(fx.gendir(HOST) / "prj" / "hello_world" / "cmake", copy)
    shutil.rmtree(fx.gen)
    return copy


@needs_cmake
def test_consumer_by_add_subdirectory_and_by_find_package(package: Path, tmp_path: Path) -> None:
    sub = consumer(tmp_path / "by_subdirectory")
    _run(["cmake", "-B", "build", f"-DTFLM_SOURCE={package}"], sub)
    _run(["cmake", "--build", "build", "-j2"], sub)
    assert not (sub / "build" / "tflm" / "hello_world").exists()  # the example is not built for a consumer
    assert _expected() in _run([str(sub / "build" / "consumer")], sub)

    prefix = tmp_path / "prefix"
    _run(["cmake", "-B", "build"], package)
    _run(["cmake", "--build", "build", "-j2"], package)
    _run(["cmake", "--install", "build", "--prefix", str(prefix)], package)
    assert (prefix / "lib" / "libtensorflow-microlite.a").is_file()
    assert (prefix / "include/tflm/tensorflow/lite/micro/micro_interpreter.h").is_file()
    assert not (prefix / "include/tflm/tensorflow/lite/micro/examples").exists()  # the example's headers stay
    assert "cxx_std_17" in (prefix / "lib/cmake/tflm/tflmTargets.cmake").read_text()
    shutil.rmtree(package)  # the installed package must stand alone
    found = consumer(tmp_path / "by_find_package")
    _run(["cmake", "-B", "build", f"-DCMAKE_PREFIX_PATH={prefix}"], found)
    commands = _run(["cmake", "--build", "build", "-v"], found)
    compile_line = next(line for line in commands.splitlines() if "main.cc" in line and " -c " in line)
    assert "-fno-rtti" not in compile_line and "-Wall" not in compile_line
    assert "-DTF_LITE_STATIC_MEMORY" in compile_line  # C++17: the static_assert of main.cc
    assert _expected() in _run([str(found / "build" / "consumer")], found)


@needs_cmake
@pytest.mark.parametrize("how, args", [
    ("find_package", ["-DCMAKE_CXX_STANDARD=14"]),
    ("add_subdirectory", ["-DCMAKE_CXX_FLAGS=-std=c++11"]),
])
def test_consumer_below_cxx17_gets_one_clear_error(package: Path, tmp_path: Path, how: str, args: list[str]) -> None:
    if how == "find_package":
        prefix = tmp_path / "prefix"
        _run(["cmake", "-B", "build"], package)
        _run(["cmake", "--build", "build", "-j2"], package)
        _run(["cmake", "--install", "build", "--prefix", str(prefix)], package)
        args = [*args, f"-DCMAKE_PREFIX_PATH={prefix}"]
    else:
        args = [*args, f"-DTFLM_SOURCE={package}"]
    folder = consumer(tmp_path / "old_standard")
    proc = subprocess.run(["cmake", "-B", "build", *args], cwd=folder, capture_output=True, text=True)
    assert proc.returncode != 0
    message = " ".join(proc.stderr.split())
    assert "tflm (TensorFlow Lite Micro) needs C++17 or newer" in message, proc.stderr
    assert ("CMAKE_CXX_STANDARD is 14" if how == "find_package" else "CMAKE_CXX_FLAGS has -std=c++11") in message
    assert "Fix: set CMAKE_CXX_STANDARD to 17 or newer" in message
