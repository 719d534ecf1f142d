"""Model-aware builds pick exactly the kernels a program registers, and fall back when unsure."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURE_TREE, Fixture, compiled
from tflite_builder import tiny_tflite

from tflm_build.build.model_aware import select
from tflm_build.build.model_ops import builtin_names, read_model_ops
from tflm_build.model.targets import host_arch

RESOLVER = '''// Fixture resolver: the shape of TFLM's MicroMutableOpResolver methods.
#ifndef FIXTURE_RESOLVER_H_
#define FIXTURE_RESOLVER_H_
#include "tensorflow/lite/micro/kernels/kernel_util.h"
struct TFLMRegistration { int (*invoke)(int, int); };
typedef int TfLiteStatus;
TFLMRegistration Register_ADD();
TFLMRegistration Register_MUL();
TFLMRegistration* Register_WINDOW();
template <int N>
class MicroMutableOpResolver {
 public:
  TfLiteStatus AddAdd(const TFLMRegistration& registration = Register_ADD()) {
    return AddBuiltin(BuiltinOperator_ADD, registration);
  }
  TfLiteStatus AddMul(const TFLMRegistration& registration = Register_MUL()) {
    return AddBuiltin(BuiltinOperator_MUL, registration);
  }
  TfLiteStatus AddWindow() {
    return AddCustom("SignalWindow", *Register_WINDOW());
  }
  int Run(int a, int b) { return regs_[0].invoke(a, b); }
 private:
  enum { BuiltinOperator_ADD, BuiltinOperator_MUL };
  TfLiteStatus AddBuiltin(int, const TFLMRegistration& r) { regs_[n_++] = r; return 0; }
  TfLiteStatus AddCustom(const char*, const TFLMRegistration& r) { return AddBuiltin(0, r); }
  TFLMRegistration regs_[N];
  int n_ = 0;
};
#endif
'''
SCHEMA = "enum BuiltinOperator : int32_t {\n  BuiltinOperator_ADD = 0,\n  BuiltinOperator_CUSTOM = 32,\n" \
         "  BuiltinOperator_MUL = 18,\n  BuiltinOperator_MIN = 0,\n  BuiltinOperator_MAX = 18\n};\n"
PROGRAM = '''#include <cstdio>
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/examples/hello_world/models/hello_world_float_model_data.h"
int main() {
  MicroMutableOpResolver<1> resolver;
  resolver.AddAdd();
  std::printf("add via resolver: %d, model %u bytes\\n~~~ALL TESTS PASSED~~~\\n", resolver.Run(2, 3),
              g_hello_world_float_model_data_size);
  return 0;
}
'''


def _tree(tmp: Path, ops: list[tuple[int, str | None]], program: str = PROGRAM) -> Path:
    tree = tmp / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    micro = tree / "tensorflow/lite/micro"
    (micro / "micro_mutable_op_resolver.h").write_text(RESOLVER)
    (tree / "tensorflow/lite/schema").mkdir(parents=True)
    (tree / "tensorflow/lite/schema/schema_generated.h").write_text(SCHEMA)
    add = micro / "kernels/add.cc"
    add.write_text(add.read_text() + '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n'
                   "static int Invoke(int a, int b) { return AddKernel(a, b); }\n"
                   "TFLMRegistration Register_ADD() { return {Invoke}; }\n")
    mul = micro / "kernels/mul.cc"
    mul.write_text(mul.read_text() + '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n'
                   "static int Invoke(int a, int b) { return a * b; }\n"
                   "TFLMRegistration Register_MUL() { return {Invoke}; }\n")
    models = micro / "examples/hello_world/models"
    (models / "hello_world_float.tflite").write_bytes(tiny_tflite(ops))
    (models / "hello_world_int8.tflite").write_bytes(tiny_tflite(ops))
    (micro / "examples/hello_world/hello_world_test.cc").write_text(program)
    return tree


def test_reads_operator_codes(tmp_path: Path) -> None:
    tree = _tree(tmp_path, [(0, None), (18, None), (32, "SignalWindow")])
    names = builtin_names(tree / "tensorflow/lite/schema/schema_generated.h")
    ops = read_model_ops(tree / "tensorflow/lite/micro/examples/hello_world/models/hello_world_float.tflite", names)
    assert ops.builtins == {"ADD", "MUL"} and ops.customs == {"SignalWindow"}


def _select(tree: Path):
    kernels = ["tensorflow/lite/micro/kernels/add.cc", "tensorflow/lite/micro/kernels/kernel_util.cc",
               "tensorflow/lite/micro/kernels/mul.cc"]
    core = ["tensorflow/lite/micro/micro_interpreter.cc", "tensorflow/lite/micro/debug_log.cc"]
    micro = tree / "tensorflow/lite/micro"
    return select(tree, kernels, core, [micro / "examples/hello_world/hello_world_test.cc"],
                  [micro / "examples/hello_world/models/hello_world_float.tflite"])


def test_picks_exactly_the_registered_kernels(tmp_path: Path) -> None:
    choice = _select(_tree(tmp_path, [(0, None)]))
    assert choice.ops == ["ADD"]
    # add.cc defines Register_ADD; kernel_util.cc implements kernel_util.h, which add.cc includes.
    # mul.cc, which defines Register_MUL (not registered here), is left out.
    assert choice.kernels == ["tensorflow/lite/micro/kernels/add.cc", "tensorflow/lite/micro/kernels/kernel_util.cc"]
    assert choice.reason.startswith("2 of 3 kernel files for ADD")


@pytest.mark.parametrize("program, ops, reason", [
    (PROGRAM.replace("MicroMutableOpResolver<1> resolver;", "AllOpsResolver resolver;"), [(0, None)],
     "registers every operator"),
    (PROGRAM.replace("resolver.AddAdd();", 'resolver.AddCustom("Mine", Register_ADD());'), [(0, None)],
     "AddBuiltin/AddCustom"),
    (PROGRAM, [(0, None), (32, "MyCustomOp")], "uses custom operator MyCustomOp"),
    (PROGRAM.replace("MicroMutableOpResolver", "OtherResolver"), [(0, None)], "no MicroMutableOpResolver"),
])
def test_falls_back_when_it_cannot_tell(tmp_path: Path, program: str, ops, reason: str) -> None:
    choice = _select(_tree(tmp_path, ops, program))
    assert choice.kernels is None and reason in choice.reason


def test_model_op_not_registered_is_reported(tmp_path: Path) -> None:
    choice = _select(_tree(tmp_path, [(0, None), (18, None)]))
    assert choice.kernels is not None and choice.unregistered == ["MUL"]


def test_end_to_end_model_aware_program_runs_and_links_fewer_kernels(fx: Fixture, tmp_path: Path) -> None:
    tree = _tree(tmp_path, [(0, None)])
    env = {"TFLM_ROOT": str(tree)}
    res = fx.scons("run_hello_world", env=env)
    assert res.returncode == 0, res.output
    assert "model-aware hello_world: 2 of 4 kernel files for ADD" in res.stderr
    assert "add via resolver: 5" in res.stdout
    gen = fx.gendir(f"linux_{host_arch()}_default_gcc")
    lib = gen / "lib" / "model_aware" / "hello_world" / "libtensorflow-microlite.a"
    assert lib.is_file()
    stems = compiled(res.stdout)
    assert "mul" not in stems and "add" in stems
    full = fx.scons("run_hello_world", "MODEL_AWARE=0", env=env)
    assert full.returncode == 0, full.output
    assert "add via resolver: 5" in full.stdout


def test_size_reports_model_aware_program_beside_its_full_library_twin(fx: Fixture, tmp_path: Path) -> None:
    tree = _tree(tmp_path, [(0, None)])
    env = {"TFLM_ROOT": str(tree)}
    bin_dir = fx.gendir(f"linux_{host_arch()}_default_gcc") / "bin"
    twin = bin_dir / "full_library" / "hello_world"
    # Building the program alone links no twin and compiles no kernel the model does not use.
    first = fx.scons("hello_world_bin", env=env)
    assert first.returncode == 0, first.output
    assert not twin.exists() and "mul" not in compiled(first.stdout)
    res = fx.scons("size_hello_world", env=env)
    assert res.returncode == 0, res.output
    assert twin.is_file() and "mul" in compiled(res.stdout)  # the twin links the whole library
    assert "hello_world: model-aware (2 of 4 kernel files for ADD) beside the full-library build" in res.stdout
    rows = {("full library" if line.split()[0] == "full" else line.split()[0]): line
            for line in res.stdout.splitlines() if line.startswith(("  model-aware", "  full library", "  difference"))}
    assert set(rows) == {"model-aware", "full library", "difference"}
    if shutil.which("size"):  # the figures are Berkeley size's, for both programs
        for label, elf in (("model-aware", bin_dir / "hello_world"), ("full library", twin)):
            text, data, bss = (int(v) for v in
                               subprocess.run(["size", str(elf)], capture_output=True, text=True,
                                              check=True).stdout.splitlines()[1].split()[:3])
            assert rows[label].split()[-5:-2] == [f"{text:,}", f"{data:,}", f"{bss:,}"]
    # Both programs behave the same.
    outputs = [subprocess.run([str(p)], capture_output=True, text=True, check=True).stdout
               for p in (bin_dir / "hello_world", twin)]
    assert outputs[0] == outputs[1] and "add via resolver: 5" in outputs[0]


def test_core_files_no_linked_code_includes_are_not_compiled(fx: Fixture, tmp_path: Path) -> None:
    tree = _tree(tmp_path, [(0, None)], PROGRAM.replace(
        "#include <cstdio>\n", '#include <cstdio>\n#include "tensorflow/lite/micro/fixture_used.h"\n').replace(
        "return 0;", "return FixtureUsed() - 42;"))
    micro = tree / "tensorflow/lite/micro"
    # fixture_used.cc needs fixture_deep.h's code (fixture_deep_impl.cc, named after it), found through
    # the header it includes; nothing includes fixture_helpers.h.
    files = {
        "fixture_used.h": "#pragma once\nint FixtureUsed();\n",
        "fixture_used.cc": '#include "tensorflow/lite/micro/fixture_used.h"\n'
                           '#include "tensorflow/lite/micro/fixture_deep.h"\nint FixtureUsed() { return Deep(); }\n',
        "fixture_deep.h": "#pragma once\nint Deep();\n",
        "fixture_deep_impl.cc": '#include "tensorflow/lite/micro/fixture_deep.h"\nint Deep() { return 42; }\n',
        "fixture_helpers.h": "#pragma once\nint Helper();\n",
        "fixture_helpers.cc": '#include "tensorflow/lite/micro/fixture_helpers.h"\nint Helper() { return 1; }\n',
    }
    for name, text in files.items():
        (micro / name).write_text(text)
    env = {"TFLM_ROOT": str(tree)}
    res = fx.scons("run_hello_world", env=env)
    assert res.returncode == 0, res.output
    assert "add via resolver: 5" in res.stdout
    stems = compiled(res.stdout)
    assert {"fixture_used", "fixture_deep_impl"} <= set(stems) and "fixture_helpers" not in stems, stems
    assert "model-aware hello_world: 2 of 4 kernel files for ADD, " in res.stderr and " core files" in res.stderr
    full = fx.scons("microlite", env=env)
    assert full.returncode == 0 and "fixture_helpers" in compiled(full.stdout), full.output
