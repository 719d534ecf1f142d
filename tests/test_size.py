"""size_<program> and the one-line summary of <program>_bin: totals from the ELF, shares from the map."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Fixture

from tflm_build.build import size
from tflm_build.errors import ConfigError
from tflm_build.model.targets import host_arch

MAP = """\
Archive member included to satisfy reference by file (symbol)

/lib/libc.a(lib_a-memcpy.o)   /gen/obj/core/main.o (memcpy)

Discarded input sections

 .text.unused   0x00000000       0x40 /gen/obj/core/main.o

Memory Configuration

Name             Origin             Length             Attributes
FLASH            0x0000c000         0x000f4000         xr

Linker script and memory map

LOAD /gen/obj/core/main.o
.vectors        0x0000c000       0xc0
 *(.vectors)
 .vectors       0x0000c000       0xc0 /gen/obj/core/startup.o
                0x0000c000                vectors

.text           0x0000c0c0      0x134
 *(.text .text.*)
 .text.a_function_with_a_very_long_name_that_wraps
                0x0000c0c0      0x100 /gen/obj/core/main.o
                0x0000c0c0                a_function_with_a_very_long_name_that_wraps
 *fill*         0x0000c1c0        0x4
 .text.memcpy   0x0000c1c4       0x30 /lib/libc.a(lib_a-memcpy.o)

.data           0x10000000        0x8 load address 0x0000c1f4
 .data.counter  0x10000000        0x8 /gen/obj/core/main.o

.bss            0x10000008       0x20
 .bss.buffer    0x10000008       0x20 /gen/lib/libtensorflow-microlite.a(arena.o)

.comment        0x00000000       0x33
 .comment       0x00000000       0x33 /gen/obj/core/main.o
"""
KINDS = {".vectors": ("text", 0xC0), ".text": ("text", 0x134), ".data": ("data", 8), ".bss": ("bss", 0x20)}


def test_map_shares_per_object_and_kind(tmp_path: Path) -> None:
    path = tmp_path / "prog.map"
    path.write_text(MAP)
    shares = {s.name: s.sizes for s in size.map_shares(path, KINDS)}
    assert shares == {
        "/gen/obj/core/main.o": size.Sizes(text=0x100, data=8),  # wrapped line; discarded and .comment not counted
        "/gen/obj/core/startup.o": size.Sizes(text=0xC0),
        "/lib/libc.a(lib_a-memcpy.o)": size.Sizes(text=0x30),
        "/gen/lib/libtensorflow-microlite.a(arena.o)": size.Sizes(bss=0x20),
        "(padding)": size.Sizes(text=4),
    }
    total = sum((s.total for s in shares.values()), 0)
    assert total == size.totals(KINDS).total


def test_not_an_elf_is_a_clear_error(tmp_path: Path) -> None:
    image = tmp_path / "hello_world.bin"
    image.write_bytes(b"\0" * 64)
    with pytest.raises(ConfigError, match="cannot read .* as an ELF file"):
        size.report(image)
    with pytest.raises(ConfigError, match="does not exist"):
        size.report(tmp_path / "missing")


def _berkeley(elf: Path, tool: str) -> tuple[int, int, int]:
    out = subprocess.run([tool, str(elf)], capture_output=True, text=True, check=True).stdout.splitlines()[1]
    text, data, bss = (int(v) for v in out.split()[:3])
    return text, data, bss


@pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None, reason="arm-none-eabi-g++ not found")
def test_size_goal_and_bin_summary_on_a_cortex_m_program(fx: Fixture) -> None:
    arch = "cortex-m4"
    built = fx.scons("TARGET=cortex_m_qemu", f"TARGET_ARCH={arch}", "hello_world_bin")
    assert built.returncode == 0, built.output
    bin_dir = fx.gendir(f"cortex_m_qemu_{arch}_default_gcc") / "bin"
    text, data, bss = _berkeley(bin_dir / "hello_world", "arm-none-eabi-size")
    line = f"hello_world: text {text:,} data {data:,} bss {bss:,} bytes"
    assert f"SIZE  {line}" in built.stdout
    assert (bin_dir / "hello_world.size").read_text().startswith(line)

    res = fx.scons("TARGET=cortex_m_qemu", f"TARGET_ARCH={arch}", "size_hello_world")
    assert res.returncode == 0, res.output
    assert line in res.stdout
    rows = [r for r in res.stdout.splitlines() if re.match(r"^\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d.]+%\s", r)]
    objects = [r.split("%", 1)[1].strip() for r in rows]
    assert "core/tensorflow/lite/micro/examples/hello_world/hello_world_test.o" in objects
    assert "libtensorflow-microlite.a(micro_interpreter.o)" in objects
    assert any(o.startswith("libc.a(") for o in objects)
    # The table covers the whole program (string merging may make the map's input sizes a bit larger).
    mapped = sum(int(v.replace(",", "")) for r in rows[:-1] for v in r.split()[:3])
    assert text + data + bss <= mapped <= (text + data + bss) * 1.01
    again = fx.scons("TARGET=cortex_m_qemu", f"TARGET_ARCH={arch}", "hello_world_bin")
    assert "SIZE" not in again.stdout  # a no-op build stays quiet


def test_size_goal_on_a_host_program(fx: Fixture) -> None:
    res = fx.scons("size_hello_world")
    assert res.returncode == 0, res.output
    elf = fx.gendir(f"linux_{host_arch()}_default_gcc") / "bin" / "hello_world"
    if shutil.which("size"):
        text, data, bss = _berkeley(elf, "size")
        assert f"hello_world: text {text:,} data {data:,} bss {bss:,} bytes" in res.stdout
    # Host programs get a map only where the build writes one; without it, the totals alone.
    has_map = elf.with_name("hello_world.map").is_file()
    assert ("no map file" in res.stdout) != has_map
