"""The arduino project kind: the library compiles the way arduino-cli compiles it, and the sketch runs.

arduino-cli compiles every .c, .cpp and .S below a library's src/ with -I src (and the core's
folders, no -D of ours), and a sketch: its .ino becomes a .cpp with ``#include <Arduino.h>`` put
first, the .cpp files beside it are compiled as they are, with the library's src/ on the include
path.  The test does the same with the host g++, a tiny Arduino.h standing in for a board's
core (Serial writes to stderr, so output that reaches it went through Serial) and a main() that
calls setup() then loop(), as the core's main does; it links and runs the sketch.  So every
#include of the moved, renamed and flattened files must resolve with -I src alone, and a file
compiled twice or not at all fails the link.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURE_DEPS, FIXTURE_TREE, Fixture
from test_projects import HOST, PASS, _generate, assert_self_contained

ARDUINO_H = """// Stand-in for a board core's Arduino.h: only the API the library and sketch use.
#ifndef TEST_ARDUINO_H_
#define TEST_ARDUINO_H_
#include <cstddef>
#include <cstdio>
struct TestSerial {
  void begin(unsigned long) { begun = true; }
  explicit operator bool() const { return true; }
  size_t print(const char* s) { return std::fprintf(stderr, "%s%s", begun ? "" : "(not begun)", s); }
  size_t print(int v) { return std::fprintf(stderr, "%d", v); }
  size_t println(int v) { return std::fprintf(stderr, "%d\\n", v); }
  bool begun = false;
};
extern TestSerial Serial;
unsigned long millis();
unsigned long micros();
void setup();
void loop();
#endif
"""
CORE_CPP = """// Stand-in for the core's main.cpp.
#include <Arduino.h>
TestSerial Serial;
unsigned long millis() { return 0; }
unsigned long micros() { return 42; }
int main() {
  setup();
  loop();
  return 0;
}
"""
# Each case's probe: a file of the user's beside the sketch that logs through TFLM's DebugLog.
OLD_PROBE = """#include "tensorflow/lite/micro/debug_log.h"
static struct Probe { Probe() { DebugLog("debug log through Serial\\n"); } } probe;
"""
NEW_PROBE = """#include <TensorFlowLite.h>
#include <cstdarg>
#ifndef TF_LITE_STATIC_MEMORY
#error "TensorFlowLite.h brings the build's symbols"
#endif
#include "tensorflow/lite/micro/debug_log.h"
#include "tensorflow/lite/micro/micro_time.h"
static void Log(const char* format, ...) {
  va_list args;
  va_start(args, format);
  DebugLog(format, args);
  va_end(args);
}
static struct Probe {
  Probe() { Log("debug log through %s, %u ticks/s\\n", "Serial", unsigned(tflite::ticks_per_second())); }
} probe;
"""
# A TFLM tree as of 2023+ for cortex_m_generic: DebugLog(format, va_list), micro_time, the target's
# own debug_log.cc and micro_time.cc (which cannot compile for Arduino), and kissfft's kiss_fft.c
# included as code by a wrapper, as signal/src/kiss_fft_wrappers does.
GENERIC_TREE = {
    "tensorflow/lite/micro/debug_log.h": """#ifndef FIXTURE_DEBUG_LOG_H_
#define FIXTURE_DEBUG_LOG_H_
#include <cstdarg>
#include <cstddef>
extern "C" {
void DebugLog(const char* format, va_list args);
int DebugLogVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist);
}
#endif
""",
    "tensorflow/lite/micro/debug_log.cc": """#include "tensorflow/lite/micro/debug_log.h"
#include <cstdio>
extern "C" void DebugLog(const char* format, va_list args) { vfprintf(stderr, format, args); }
""",
    "tensorflow/lite/micro/micro_time.h": """#ifndef FIXTURE_MICRO_TIME_H_
#define FIXTURE_MICRO_TIME_H_
#include <cstdint>
namespace tflite {
uint32_t ticks_per_second();
uint32_t GetCurrentTimeTicks();
}
#endif
""",
    "tensorflow/lite/micro/micro_time.cc": """#include "tensorflow/lite/micro/micro_time.h"
namespace tflite {
uint32_t ticks_per_second() { return 0; }
uint32_t GetCurrentTimeTicks() { return 0; }
}
""",
    "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h": "// fixture callback header\n",
    # As TFLM's kernels/conv.h, cmsis_nn kernels compile only where CMSIS_NN is defined.
    "tensorflow/lite/micro/kernels/cmsis_nn/add.cc": """#ifndef CMSIS_NN
#error "OPTIMIZED_KERNEL_DIR=cmsis_nn builds define CMSIS_NN"
#endif
#include "Include/arm_nnfunctions.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
int AddKernel(int a, int b) { return arm_fixture_add_s8(a, b); }
const char* AddKernelFlavour() { return "cmsis_nn"; }
""",
    "tensorflow/lite/micro/cortex_m_generic/debug_log.cc": """#include "tensorflow/lite/micro/debug_log.h"
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
extern "C" void DebugLog(const char* format, va_list args) {}
""",
    "tensorflow/lite/micro/cortex_m_generic/micro_time.cc": """#include CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE
#include "tensorflow/lite/micro/micro_time.h"
""",
    "signal/src/kiss_fft_wrappers/kiss_fft_int16.cc": """#define FIXED_POINT 16
namespace kiss_fft_fixed16 {
#include "kiss_fft.c"
}
int FixtureKissFft16() { return kiss_fft_fixed16::FixtureKissFft(); }
""",
}
KISS_FFT_C = """#ifndef FIXED_POINT
#error "kiss_fft.c is included by the kiss_fft wrappers, never compiled on its own"
#endif
int FixtureKissFft() { return FIXED_POINT; }
"""
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found (apt-get install g++)")


def _compile(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(argv)}\n{proc.stderr[-3000:]}"


def build_like_arduino_cli(library: Path, example: str, extra: str, out: Path) -> subprocess.CompletedProcess[str]:
    """Compile the library and the sketch as arduino-cli does (host g++), link, run; returns the run."""
    core = out / "core"
    core.mkdir(parents=True)
    (core / "Arduino.h").write_text(ARDUINO_H)
    (core / "main.cpp").write_text(CORE_CPP)
    sketch = out / "sketch"
    shutil.copytree(library / "examples" / example, sketch)
    (sketch / "user_probe.cpp").write_text(extra)
    ino = sketch / f"{example}.ino"
    (sketch / f"{example}.ino.cpp").write_text(f'#include <Arduino.h>\n#line 1 "{ino}"\n' + ino.read_text())
    cxx = ["g++", "-std=gnu++17", "-Os", "-fno-exceptions", "-fno-rtti", f"-I{core}"]
    cc = ["gcc", "-std=gnu11", "-Os", f"-I{core}"]
    objects = []
    sources = [p for p in sorted((library / "src").rglob("*")) if p.suffix in (".c", ".cpp", ".S")]
    for number, source in enumerate([*sources, *sorted(sketch.glob("*.cpp")), core / "main.cpp"]):
        obj = out / f"{number}_{source.stem}.o"
        _compile([*(cc if source.suffix == ".c" else cxx), f"-I{library / 'src'}", "-c", str(source), "-o", str(obj)])
        objects.append(str(obj))
    program = out / example
    _compile(["g++", *objects, "-o", str(program)])
    return subprocess.run([str(program)], capture_output=True, text=True, timeout=60)


def _files(project: Path) -> set[str]:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


@needs_gxx
def test_arduino_library_from_linux_compiles_like_arduino_cli_and_runs(fx: Fixture, tmp_path: Path) -> None:
    _generate(fx, "generate_hello_world_arduino_project")
    prj = fx.gendir(HOST) / "prj" / "hello_world" / "arduino"
    assert_self_contained(prj, fx.gen)
    files = _files(prj)
    assert {"library.properties", "src/TensorFlowLite.h", "src/LICENSE", "THIRD_PARTY_NOTICES.md",
            "examples/hello_world/hello_world.ino", "examples/hello_world/hello_world_test.cpp",
            "examples/hello_world/models_hello_world_float_model_data.cpp",
            "examples/hello_world/models_hello_world_float_model_data.h",
            "src/tensorflow/lite/micro/micro_interpreter.cpp", "src/tensorflow/lite/micro/micro_interpreter.h",
            "src/tensorflow/lite/micro/arduino/debug_log.cpp",
            "src/third_party/flatbuffers/include/flatbuffers/base.h", "src/third_party/flatbuffers/LICENSE"} <= files
    assert not [f for f in files if f.endswith(".cc")]
    assert "src/tensorflow/lite/micro/debug_log.cpp" not in files  # TFLM's stdio one: replaced by Serial
    assert "src/tensorflow/lite/micro/arduino/micro_time.cpp" not in files  # the tree has no micro_time.cc
    props = dict(line.split("=", 1) for line in (prj / "library.properties").read_text().splitlines())
    assert {"name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
            "architectures", "includes"} <= set(props)
    assert props["name"] == "TensorFlowLite_hello_world" and props["architectures"] == "*"
    assert props["includes"] == "TensorFlowLite.h" and props["version"].startswith("0.0.0+tflm.")
    assert '#include "tensorflow/lite/micro/micro_interpreter.h"' in (prj / "src/TensorFlowLite.h").read_text()
    interpreter = (prj / "src/tensorflow/lite/micro/micro_interpreter.cpp").read_text()
    assert '#include "third_party/flatbuffers/include/flatbuffers/base.h"' in interpreter
    assert "#define TF_LITE_STATIC_MEMORY 1\n" in (prj / "src/tflm_config.h").read_text()
    compiled = [f for f in files if f.endswith((".c", ".cpp")) and "model_data" not in f]
    first_includes = {f: re.search(r'^#include .*', (prj / f).read_text(), re.M)[0] for f in compiled}  # type: ignore
    assert len(compiled) > 5 and {i.split("  //")[0] for i in first_includes.values()} == {'#include "tflm_config.h"'}
    assert "src/third_party/flatbuffers" in (prj / "THIRD_PARTY_NOTICES.md").read_text()

    copy = tmp_path / "Arduino" / "libraries" / "TensorFlowLite_hello_world"
    shutil.copytree(prj, copy)
    shutil.rmtree(fx.gen)
    run = build_like_arduino_cli(copy, "hello_world", OLD_PROBE, tmp_path / "build")
    assert run.returncode == 0, run.stdout + run.stderr
    assert PASS in run.stdout and "float model: 23 bytes" in run.stdout  # the example's printf
    assert "debug log through Serial" in run.stderr and "(not begun)" not in run.stderr
    assert run.stderr.endswith("example finished with status 0\n")  # the sketch's setup() ran its main()


@needs_gxx
def test_arduino_library_from_cortex_m_generic_with_cmsis_nn(fx: Fixture, tmp_path: Path) -> None:
    tree, kissfft = tmp_path / "tree", tmp_path / "kissfft"
    shutil.copytree(FIXTURE_TREE, tree)
    shutil.copytree(FIXTURE_DEPS / "kissfft", kissfft)
    (kissfft / "kiss_fft.c").write_text(KISS_FFT_C)
    for rel, text in GENERIC_TREE.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    _generate(fx, "TARGET=cortex_m_generic", "TARGET_ARCH=cortex-m4+fp", "OPTIMIZED_KERNEL_DIR=cmsis_nn",
              "generate_hello_world_arduino_project", env={"TFLM_ROOT": str(tree), "KISSFFT_DIR": str(kissfft)})
    prj = fx.gendir("cortex_m_generic_cortex-m4+fp_default_cmsis_nn_gcc") / "prj" / "hello_world" / "arduino"
    assert_self_contained(prj, fx.gen, tmp_path)
    files = _files(prj)
    assert {"src/tensorflow/lite/micro/kernels/cmsis_nn/add.cpp", "src/tensorflow/lite/micro/arduino/micro_time.cpp",
            "src/third_party/cmsis_nn/Source/FixtureFunctions/arm_fixture_add_s8.c",
            "src/third_party/kissfft/kiss_fft.c.inc", "src/signal/src/kiss_fft_wrappers/kiss_fft_int16.cpp"} <= files
    assert not {"src/tensorflow/lite/micro/cortex_m_generic/debug_log.cpp",  # replaced by the Arduino glue
                "src/tensorflow/lite/micro/cortex_m_generic/micro_time.cpp",
                "src/third_party/kissfft/kiss_fft.c",  # Arduino would compile it alone
                "src/tensorflow/lite/micro/kernels/add.cpp"} & files  # the cmsis_nn kernel replaced it
    props = (prj / "library.properties").read_text()
    assert "architectures=mbed,mbed_nano,mbed_nicla,renesas_uno\n" in props and "cmsis_nn kernels" in props
    assert '#include "third_party/cmsis_nn/Include/arm_nnfunctions.h"' in \
        (prj / "src/tensorflow/lite/micro/kernels/cmsis_nn/add.cpp").read_text()
    assert "DebugLogVsnprintf" in (prj / "src/tensorflow/lite/micro/arduino/debug_log.cpp").read_text()
    config = (prj / "src/tflm_config.h").read_text()
    assert "#define CMSIS_NN 1\n" in config and "ARMCM4" not in config  # the device is the board's

    run = build_like_arduino_cli(prj, "hello_world", NEW_PROBE, tmp_path / "build")
    assert run.returncode == 0, run.stdout + run.stderr
    assert PASS in run.stdout
    assert "debug log through Serial, 1000000 ticks/s" in run.stderr  # DebugLog and micro_time glue
    assert run.stderr.endswith("example finished with status 0\n")
