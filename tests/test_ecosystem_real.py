"""On the real TFLM tree (pytest -m tflm; skipped unless TFLM_ROOT is set): hello_world's cmake project
consumed by another CMake project both ways, running TFLM's hello_world float model; debug_hello_world
in batch mode stops at main and reads a local, on the host and under QEMU (cortex-m4)."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO, real_tflm, run_scons
from test_cmake_package import consumer
from test_projects import _run

pytestmark = [pytest.mark.tflm,
              pytest.mark.skipif(real_tflm() is None, reason="skipped: set TFLM_ROOT to a TFLM tree at the pin")]
MODEL = "tensorflow/lite/micro/examples/hello_world/models/hello_world_float.tflite"
CONSUMER_MAIN = r"""// A program of its own (exceptions and RTTI on) running TFLM's hello_world float model from a file.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <typeinfo>
#include <vector>
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw std::runtime_error("usage: consumer <model.tflite>");
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    alignas(16) static unsigned char model_data[8192];
    if (bytes.empty() || bytes.size() > sizeof(model_data)) throw std::runtime_error("bad model file");
    std::copy(bytes.begin(), bytes.end(), model_data);
    tflite::MicroMutableOpResolver<1> resolver;
    resolver.AddFullyConnected();
    alignas(16) static uint8_t arena[3000];
    tflite::MicroInterpreter interpreter(tflite::GetModel(model_data), resolver, arena, sizeof(arena));
    if (interpreter.AllocateTensors() != kTfLiteOk) throw std::runtime_error("AllocateTensors failed");
    interpreter.input(0)->data.f[0] = 1.f;
    if (interpreter.Invoke() != kTfLiteOk) throw std::runtime_error("Invoke failed");
    float y = interpreter.output(0)->data.f[0];
    std::printf("consumer (%s): model(1) = %.3f, sin(1) = %.3f\n", typeid(interpreter).name(), y, std::sin(1.f));
    return std::fabs(y - std::sin(1.f)) < 0.05f ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 2;
  }
}
"""

# main() has no locals in the real example: stop at main, then read the local `model` of the function
# that runs the int8 model, at its first line after GetModel() (at -Os most other locals and lines are
# optimised away).
COMMANDS = """break hello_world_test.cc:{line}
continue
print model
"""


def _scons(tmp: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SCONSFLAGS"}
    res = run_scons([f"GEN_DIR={tmp / 'gen'}", "-j2", *args], env, REPO, timeout=3600)
    assert res.returncode == 0, res.output[-5000:]
    return res.output


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not found")
def test_hello_world_cmake_package_both_ways(tmp_path: Path) -> None:
    tflm = real_tflm()
    assert tflm is not None
    _scons(tmp_path, "generate_hello_world_cmake_project")
    package = tmp_path / "package"
    shutil.copytree(next((tmp_path / "gen").glob("linux_*_default_gcc")) / "prj/hello_world/cmake", package)
    model = str(tflm / MODEL)
    sub = consumer(tmp_path / "by_subdirectory", CONSUMER_MAIN)
    _run(["cmake", "-B", "build", f"-DTFLM_SOURCE={package}"], sub)
    _run(["cmake", "--build", "build", "-j2"], sub)
    assert "model(1) = 0.8" in _run([str(sub / "build/consumer"), model], sub)
    prefix = tmp_path / "prefix"
    _run(["cmake", "-B", "build"], package)
    _run(["cmake", "--build", "build", "-j2"], package)
    _run(["cmake", "--install", "build", "--prefix", str(prefix)], package)
    found = consumer(tmp_path / "by_find_package", CONSUMER_MAIN)
    _run(["cmake", "-B", "build", f"-DCMAKE_PREFIX_PATH={prefix}"], found)
    _run(["cmake", "--build", "build", "-j2"], found)
    assert "model(1) = 0.8" in _run([str(found / "build/consumer"), model], found)


@pytest.mark.parametrize("args", [[], ["TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4"]])
def test_debug_hello_world_stops_at_main_and_reads_a_local(tmp_path: Path, args: list[str]) -> None:
    tflm = real_tflm()
    assert tflm is not None
    source = (tflm / "tensorflow/lite/micro/examples/hello_world/hello_world_test.cc").read_text().splitlines()
    line = max(i for i, text in enumerate(source, 1) if "TFLITE_CHECK_EQ(model->version()" in text)
    commands = tmp_path / "commands.gdb"
    commands.write_text(COMMANDS.format(line=line))
    out = _scons(tmp_path, "BUILD_TYPE=debug", f"GDB_BATCH={commands}", *args, "debug_hello_world")
    assert re.search(r"Breakpoint 1, main \(.*\) at \S*hello_world_test\.cc:\d+", out), out[-3000:]
    assert re.search(r"^\$1 = \(const tflite::Model \*\) 0x[0-9a-f]+ <g_hello_world_int8_model_data\+\d+>$",
                     out, re.M), out[-3000:]
