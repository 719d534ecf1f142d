"""TARGET=cortex_m_qemu's startup code and linker scripts, on the real toolchain and QEMU.

For each QEMU machine the target uses, a small C++ program (printf, a static
constructor, new/delete, float math, a large .bss) is compiled with the
target's own flags from targets/cortex_m_qemu.yaml, linked with
targets/cortex_m_qemu/startup.c and the machine's linker script, and run with
the target's runner command.  Checked: the output, QEMU's exit status equals
main()'s return value (0 and 3), a fault exits non-zero, a hang is killed by a
timeout.  Skipped when arm-none-eabi-g++ or qemu-system-arm is missing.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tflm_build.model.targets import TargetRegistry

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "targets"
QEMU_DIR = TARGETS / "cortex_m_qemu"
GXX = "arm-none-eabi-g++"
GCC = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(GXX) is None or shutil.which(GCC) is None,
                       reason=f"{GXX} not found (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                              "libstdc++-arm-none-eabi-newlib)"),
    pytest.mark.skipif(shutil.which(QEMU) is None,
                       reason=f"{QEMU} not found (apt-get install qemu-system-arm)"),
]

PROGRAM = r"""
#include <cmath>
#include <cstdio>

#ifndef EXIT_CODE
#define EXIT_CODE 0
#endif
#ifndef BSS_BYTES
#define BSS_BYTES (512 * 1024)
#endif

struct Constructed {
  int value;
  Constructed() : value(42) { std::printf("static constructor ran\n"); }
};
static Constructed constructed;

volatile float two = 2.0f;
char big_bss[BSS_BYTES];

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  int* numbers = new int[1000];
  for (int i = 0; i < 1000; ++i) numbers[i] = i;
  long sum = 0;
  for (int i = 0; i < 1000; ++i) sum += numbers[i];
  delete[] numbers;
  big_bss[BSS_BYTES - 1] = static_cast<char>(sum);
  const float root = std::sqrt(two);
  std::printf("value=%d sum=%ld root=%.3f sin=%d\n", constructed.value, sum, static_cast<double>(root),
              static_cast<int>(std::sin(1.0) * 1000.0));
  std::fprintf(stderr, "stderr works\n");
#ifdef HANG
  for (;;) {
  }
#endif
#ifdef CRASH
  __builtin_trap();
#endif
  return EXIT_CODE;
}
"""

EXPECTED_STDOUT = "static constructor ran\nvalue=42 sum=499500 root=1.414 sin=841\n"

# One TARGET_ARCH per machine and float ABI (the others share flags and machine with one of these).
ARCHES = ["cortex-m0", "cortex-m3", "cortex-m4", "cortex-m4+fp", "cortex-m4+sfp", "cortex-m7+fp",
          "cortex-m33", "cortex-m33+nodsp", "cortex-m55", "cortex-m55+nofp"]

REGISTRY = TargetRegistry(TARGETS)


def _run_shell(command: str, cwd: Path) -> None:
    # Through sh, as SCons runs command lines on POSIX (the quoted CMSIS define relies on it).
    result = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"


def build(tmp: Path, arch: str, *defines: str, machine: str | None = None) -> tuple[Path, list[str]]:
    """Compile and link the program for cortex_m_qemu/<arch>; return the ELF and the run command."""
    target = REGISTRY.load("cortex_m_qemu", arch)
    machine = machine or target.vars["machine"]
    out = tmp / re.sub(r"[^A-Za-z0-9]+", "_", "_".join((arch, machine) + defines))
    out.mkdir(parents=True, exist_ok=True)
    (out / "prog.cc").write_text(PROGRAM)
    common = target.flags("common") + ["-Os"] + [f"-D{d}" for d in target.flags("defines")]
    startup = target.startup[0]
    script = QEMU_DIR / f"{machine}.ld" if machine != target.vars["machine"] else target.linker_script
    q = shlex.quote
    _run_shell(" ".join([GCC] + common + target.flags("c") + ["-c", q(str(startup)), "-o", "startup.o"]), out)
    _run_shell(" ".join([GXX, "-std=c++17"] + common + target.flags("cxx") + [f"-D{d}" for d in defines]
                        + ["-c", "prog.cc", "-o", "prog.o"]), out)
    _run_shell(" ".join([GXX] + common + target.flags("link") + ["-T", q(str(script)), "startup.o", "prog.o"]
                        + [f"-l{lib}" for lib in target.flags("libs")] + ["-o", "prog.elf"]), out)
    elf = out / "prog.elf"
    command = [part.format(**{**target.vars, "machine": machine, "program": str(elf)})
               for part in target.runner.command]
    return elf, command


def run(command: list[str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("arch", ARCHES)
def test_program_runs_and_exit_status_is_mains(tmp_path: Path, arch: str) -> None:
    elf, command = build(tmp_path, arch)
    # No writable+executable segment: newer ld warns about one, and the link uses --fatal-warnings.
    headers = subprocess.run(["arm-none-eabi-readelf", "-lW", str(elf)], capture_output=True, text=True,
                             check=True).stdout
    assert not [line for line in headers.splitlines() if line.split()[:1] == ["LOAD"] and "RWE" in line], headers
    result = run(command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == EXPECTED_STDOUT
    # newlib's stderr (TFLM's DebugLog writes there) comes out on QEMU's stderr.
    assert result.stderr == "stderr works\n"

    _, command = build(tmp_path, arch, "EXIT_CODE=3")
    result = run(command)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout == EXPECTED_STDOUT


@pytest.mark.parametrize("arch", ["cortex-m0", "cortex-m0plus"])
def test_armv6m_code_on_a_real_cortex_m0(tmp_path: Path, arch: str) -> None:
    """cortex_m_qemu runs cortex-m0 code on mps2-an385 (an M3); microbit proves it on a real M0."""
    _, command = build(tmp_path, arch, "EXIT_CODE=3", "BSS_BYTES=1024", machine="microbit")
    result = run(command)
    assert (result.returncode, result.stdout) == (3, EXPECTED_STDOUT), result.stderr


@pytest.mark.parametrize("arch,status,fault", [("cortex-m0", 131, "HardFault"),
                                              ("cortex-m4+fp", 134, "UsageFault"),
                                              ("cortex-m55", 134, "UsageFault")])
def test_fault_exits_with_128_plus_exception_number(tmp_path: Path, arch: str, status: int, fault: str) -> None:
    _, command = build(tmp_path, arch, "CRASH")
    result = run(command)
    assert result.returncode == status, result.stdout + result.stderr
    assert f"*** {fault} (exception {status - 128})" in result.stderr


def test_hang_is_killed_by_timeout(tmp_path: Path) -> None:
    _, command = build(tmp_path, "cortex-m3", "HANG")
    with pytest.raises(subprocess.TimeoutExpired) as caught:
        run(command, timeout=2)
    assert EXPECTED_STDOUT.encode() in (caught.value.stdout or b"")  # it ran, then hung
    # And with coreutils' timeout, as a shell runner would: status 124.
    if shutil.which("timeout"):
        result = subprocess.run(["timeout", "2"] + command, stdin=subprocess.DEVNULL, capture_output=True)
        assert result.returncode == 124


def test_every_arch_has_a_machine_and_linker_script() -> None:
    machines = subprocess.run([QEMU, "-M", "help"], capture_output=True, text=True, check=True).stdout
    for arch in REGISTRY.load("cortex_m_qemu", None).allowed_arches:
        target = REGISTRY.load("cortex_m_qemu", arch)
        assert re.search(rf"^{re.escape(target.vars['machine'])}\s", machines, re.M), arch
        assert target.linker_script is not None and target.linker_script.is_file(), arch


def test_linker_scripts_share_one_body() -> None:
    marker = "/* ---- Everything below is the same"
    bodies = {}
    for script in sorted(QEMU_DIR.glob("*.ld")):
        text = script.read_text()
        assert marker in text, script
        body = text[text.index(marker):]
        bodies[script.name] = re.sub(r"__stack_size__ : 0x[0-9a-fA-F]+;", "__stack_size__ : N;",
                                     body.replace("} > VECTORS\n", "} > FLASH\n"))
    assert len(set(bodies.values())) == 1, sorted(bodies)
