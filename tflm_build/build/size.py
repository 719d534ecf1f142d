"""What a program costs: text / data / bss of an ELF, and each object file's share from the map.

Goals: ``size_<program>`` for every program the configuration links (examples and
tests) prints the totals and a table of object files, largest first; building
``<program>_bin`` also writes ``bin/<program>.size``, the one-line summary, and
prints it.  :func:`report` and :func:`render` are what ``tflm-build size`` reuses.

A model-aware program (only the kernels its models use compiled) is reported
beside its full-library twin: the same objects linked against the whole
``libtensorflow-microlite.a`` into ``bin/full_library/``, so the user sees what the
selection changed in the image (usually nothing on the size: the linker takes
only the archive members the op resolver references; the gain is compile time).
The twin is linked only for ``size_<program>``, which then compiles the whole
library once.

Why read the ELF and the map in Python instead of calling ``arm-none-eabi-size``:
the totals then follow one rule for every toolchain (host gcc, clang, Arm gcc),
and the per-object shares need the linker map anyway, which no binutils tool
summarises.  The totals follow Berkeley ``size``: *text* is every allocated
read-only section (code, constants, vector table), *data* every allocated
writable section with contents (in flash and copied to RAM), *bss* every
allocated section without contents.  Flash used is text + data; static RAM is
data + bss.

The per-object table comes from a GNU ld map (``-Wl,-Map``, written next to the
ELF as ``<program>.map``): every input section placed in an output section of
the ELF counts for that output section's kind.  The map gives input sizes
before the linker merges identical strings, so the shares may add up to a
little more than the totals; in a dynamically linked host program the sections
the linker makes itself (.dynsym, .plt, .got, ...) are listed, as ld's map does,
under the first object linked (Scrt1.o).  Without a map only the totals are
reported.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import ConfigError
from .goals import Goals, goal_name

_SHF_WRITE = 0x1
_SHF_ALLOC = 0x2
_SHT_NOBITS = 8
KINDS = ("text", "data", "bss")


@dataclass(frozen=True)
class Sizes:
    """Bytes of text, data and bss (Berkeley ``size`` rules)."""

    text: int = 0
    data: int = 0
    bss: int = 0

    @property
    def total(self) -> int:
        return self.text + self.data + self.bss

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss

    def plus(self, kind: str, size: int) -> "Sizes":
        return Sizes(**{k: getattr(self, k) + (size if k == kind else 0) for k in KINDS})


@dataclass(frozen=True)
class Share:
    """One object file's (or archive member's) contribution to a program."""

    name: str  # "path/to/x.o", "libfoo.a(member.o)", or "(padding)" for the linker's fill
    sizes: Sizes


@dataclass(frozen=True)
class SizeReport:
    """Totals of one ELF and, when its map file was found, the per-object shares (largest first)."""

    program: Path
    totals: Sizes
    objects: tuple[Share, ...]
    map_file: Path | None


def section_kinds(elf: Path) -> dict[str, tuple[str, int]]:
    """Allocated sections of an ELF (32 or 64 bit, either byte order): name -> (kind, size)."""
    data = elf.read_bytes()
    if data[:4] != b"\x7fELF" or len(data) < 52:
        raise ValueError(f"{elf} is not an ELF file")
    wide = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    if wide:
        shoff, = struct.unpack_from(order + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x3A)
        layout = order + "IIQQQQIIQQ"
    else:
        shoff, = struct.unpack_from(order + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x2E)
        layout = order + "IIIIIIIIII"
    headers = [struct.unpack_from(layout, data, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4] if shstrndx < len(headers) else 0
    kinds: dict[str, tuple[str, int]] = {}
    for name_off, sh_type, flags, _addr, _offset, size, *_ in headers:
        if not flags & _SHF_ALLOC or size == 0:
            continue
        end = data.index(b"\0", names_at + name_off)
        name = data[names_at + name_off:end].decode(errors="replace")
        if sh_type == _SHT_NOBITS:
            kind = "bss"
        elif flags & _SHF_WRITE:
            kind = "data"
        else:
            kind = "text"
        kinds[name] = (kind, size)
    return kinds


def totals(kinds: dict[str, tuple[str, int]]) -> Sizes:
    sizes = Sizes()
    for kind, size in kinds.values():
        sizes = sizes.plus(kind, size)
    return sizes


# " .text.foo  0x0000c11c  0x24 /path/x.o" (one line) or " .text.foo\n    0x0000c11c  0x24 /path/x.o"
_INPUT = re.compile(r"^ (\S+)\s+0x[0-9a-fA-F]+\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
_INPUT_NAME = re.compile(r"^ (\S+)$")
_CONTINUED = re.compile(r"^\s+0x[0-9a-fA-F]+\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
_FILL = re.compile(r"^ \*fill\*\s+0x[0-9a-fA-F]+\s+0x([0-9a-fA-F]+)")
_OUTPUT = re.compile(r"^([^\s*][^\s]*)(?:\s|$)")


def map_shares(map_file: Path, kinds: dict[str, tuple[str, int]]) -> list[Share]:
    """Per input file, the bytes it puts into the ELF's allocated output sections (GNU ld map)."""
    per_file: dict[str, Sizes] = {}
    current: str | None = None  # kind of the output section being read, None if not allocated
    started = False
    pending: str | None = None  # input section whose address / size / file is on the next line
    for line in map_file.read_text(errors="replace").splitlines():
        if not started:
            started = line.startswith("Linker script and memory map")
            continue
        if line and not line[0].isspace():
            match = _OUTPUT.match(line)
            name = match.group(1) if match else ""
            current = kinds[name][0] if name in kinds else None
            pending = None
            continue
        if current is None:
            continue
        size, owner = 0, ""
        if pending is not None:
            follow = _CONTINUED.match(line)
            pending = None
            if follow:
                size, owner = int(follow.group(1), 16), follow.group(2)
        elif fill := _FILL.match(line):
            size, owner = int(fill.group(1), 16), "(padding)"
        elif one := _INPUT.match(line):
            size, owner = int(one.group(2), 16), one.group(3)
        elif _INPUT_NAME.match(line) and not line.startswith(" *"):
            pending = line
        if size:
            per_file[owner.strip()] = per_file.get(owner.strip(), Sizes()).plus(current, size)
    shares = [Share(name, sizes) for name, sizes in per_file.items()]
    return sorted(shares, key=lambda s: (-s.sizes.total, s.name))


def report(elf: Path, map_file: Path | None = None) -> SizeReport:
    """Totals of ``elf`` and the per-object shares from ``map_file`` (default: ``<elf>.map`` if present)."""
    if not elf.is_file():
        raise ConfigError(f"{elf} does not exist", fix="build the program first (scons <program>)")
    try:
        kinds = section_kinds(elf)
    except (ValueError, struct.error) as exc:
        raise ConfigError(f"cannot read {elf} as an ELF file: {exc}",
                          fix="pass the program's ELF (bin/<program>), not its .bin image") from None
    if map_file is None:
        candidate = elf.with_name(elf.name + ".map")
        map_file = candidate if candidate.is_file() else None
    objects = tuple(map_shares(map_file, kinds)) if map_file else ()
    return SizeReport(elf, totals(kinds), objects, map_file)


def summary(rep: SizeReport) -> str:
    """One line: the program's text, data, bss, and what that means for flash and RAM."""
    t = rep.totals
    return (f"{rep.program.name}: text {t.text:,} data {t.data:,} bss {t.bss:,} bytes "
            f"(flash {t.flash:,}, static RAM {t.ram:,})")


def render(rep: SizeReport, strip: Sequence[str] = ()) -> str:
    """The totals line, then one row per object file with its share of the whole program."""
    lines = [summary(rep)]
    if not rep.objects:
        lines.append("  (no map file: per-object shares need <program>.map, written by -Wl,-Map)")
        return "\n".join(lines)
    whole = rep.totals.total or 1
    lines.append(f"  {'text':>9} {'data':>7} {'bss':>8} {'share':>6}  object (from {rep.map_file})")
    for share in rep.objects:
        s = share.sizes
        lines.append(f"  {s.text:>9,} {s.data:>7,} {s.bss:>8,} {100 * s.total / whole:>5.1f}%  "
                     f"{_shorten(share.name, strip)}")
    mapped = Sizes(*(sum(getattr(o.sizes, k) for o in rep.objects) for k in KINDS))
    lines.append(f"  {mapped.text:>9,} {mapped.data:>7,} {mapped.bss:>8,} {100 * mapped.total / whole:>5.1f}%  "
                 f"{len(rep.objects)} objects")
    return "\n".join(lines)


def compare(aware: SizeReport, full: SizeReport, selection: str) -> str:
    """The model-aware program's totals beside its full-library twin's, and the difference."""
    rows = [("model-aware", aware.totals), ("full library", full.totals)]
    lines = [f"{aware.program.name}: model-aware ({selection}) beside the full-library build",
             f"  {'':<13} {'text':>10} {'data':>8} {'bss':>9} {'flash':>10} {'RAM':>9}"]
    for label, t in rows:
        lines.append(f"  {label:<13} {t.text:>10,} {t.data:>8,} {t.bss:>9,} {t.flash:>10,} {t.ram:>9,}")
    a, f = aware.totals, full.totals
    lines.append(f"  {'difference':<13} {a.text - f.text:>+10,} {a.data - f.data:>+8,} {a.bss - f.bss:>+9,} "
                 f"{a.flash - f.flash:>+10,} {a.ram - f.ram:>+9,}")
    return "\n".join(lines)


def _shorten(name: str, strip: Iterable[str]) -> str:
    """Objects relative to the build folder; archive members as 'libx.a(member.o)'."""
    if name.endswith(")") and "(" in name:
        archive, member = name[:-1].split("(", 1)
        return f"{Path(archive).name}({member})"
    for prefix in strip:
        if prefix and name.startswith(prefix):
            return name[len(prefix):].lstrip("/")
    return name


def declare(build: Any, goals: Goals) -> None:
    """size_<program> for every linked program; <program>_bin also writes and prints bin/<program>.size."""
    from SCons.Action import Action

    env = build.env
    strip = (str(build.gen / "obj"), str(build.gen), str(Path.cwd()))

    def shower(selection: str) -> Any:
        def show(target: Any, source: Any, env: Any) -> int:
            rep = report(Path(str(source[0])))
            print(render(rep, strip))
            if len(source) > 1:
                print(compare(rep, report(Path(str(source[1]))), selection))
            return 0
        return show

    def write_summary(target: Any, source: Any, env: Any) -> int:
        line = summary(report(Path(str(source[0]))))
        Path(str(target[0])).write_text(line + "\n")
        print(f"SIZE  {line}")
        return 0

    for name in build.sources_of:
        if goal_name("bin", name) not in goals:  # a program this target cannot link
            continue
        goals[goal_name("size", name)] = f"text / data / bss of {name} and each object's share (from its map file)"
        if name not in build.programs:  # not needed by this run's goals: no nodes (fast start-up)
            continue
        program = build.programs[name]
        elf = program[0] if isinstance(program, list) else program
        sources, selection = [elf], ""
        if name in build.model_aware and goals.asked_for("size", name):
            ps = build.sources_of[name]
            twin = build.makers.program(name, ps.base, ps.sources, ps.generator_inputs, ps.defines,
                                        folder="full_library")
            sources.append(twin[0] if isinstance(twin, list) else twin)
            selection = build.model_aware[name]
        env.AlwaysBuild(env.Alias(f"size_{name}", sources, Action(shower(selection), None)))
        line = env.Command(str(build.gen / "bin" / f"{name}.size"), elf, Action(write_summary, None))
        env.Alias(f"{name}_bin", line)
