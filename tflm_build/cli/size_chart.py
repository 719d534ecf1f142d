"""``tflm-build size <program> --chart out.svg``: flash and RAM per kernel and per object, as one SVG.

The numbers are :mod:`tflm_build.size`'s (ELF totals, per-object shares from
the linker map); this module only groups and draws them.  Objects of
``kernels/`` are grouped per kernel (``kernels/conv.o`` and
``kernels/cmsis_nn/conv.o`` are both the ``conv`` kernel), so the chart answers
"which operator costs what" as well as "which file".  SVG (or the same SVG in an
HTML page) needs no library and opens in any browser or CI artifact viewer.
"""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from ..errors import ConfigError
from ..build.size import SizeReport, Sizes, report
from ..resources import build_root
from .scons import scons_argv

_MEMBER = re.compile(r"\(([^()]+)\)$")
ROWS = 25  # bars per chart section; the rest are summed into one row


@dataclass(frozen=True)
class Bar:
    label: str
    flash: int
    ram: int


def kernel_objects(gen: Path) -> set[str]:
    """File names of the kernel objects of a configuration (the map names archive members by file name only)."""
    return {p.name for group in ("kernels", "third_party_kernels") for p in (gen / "obj" / group).rglob("*.o")}


def kernel_of(name: str, kernels: set[str]) -> str | None:
    """The kernel an object belongs to: 'conv' for lib.a(conv.o) or .../kernels/cmsis_nn/conv.o."""
    member = _MEMBER.search(name)
    base = member.group(1) if member else Path(name).name
    return Path(base).stem if base in kernels else None


def bars(rep: SizeReport, kernels: set[str] | None) -> list[Bar]:
    """Kernels (given their object names) or objects, largest flash first; rows beyond ROWS summed into one."""
    groups: dict[str, Sizes] = {}
    for share in rep.objects:
        label = kernel_of(share.name, kernels) if kernels is not None else _short(share.name)
        if label is None:
            continue
        old = groups.get(label, Sizes())
        groups[label] = Sizes(old.text + share.sizes.text, old.data + share.sizes.data, old.bss + share.sizes.bss)
    rows = sorted((Bar(k, v.flash, v.ram) for k, v in groups.items()), key=lambda b: (-b.flash, -b.ram, b.label))
    if len(rows) > ROWS:
        rest = rows[ROWS - 1:]
        rows = rows[: ROWS - 1] + [Bar(f"{len(rest)} more", sum(b.flash for b in rest), sum(b.ram for b in rest))]
    return rows


def _short(name: str) -> str:
    member = _MEMBER.search(name)
    if member:
        return member.group(1)
    parts = Path(name).parts
    return "/".join(parts[-3:]) if len(parts) > 3 else name


def svg(rep: SizeReport, title: str, kernels: set[str]) -> str:
    """The chart: totals, then flash and RAM bars per kernel and per object."""
    width, label_w, bar_w, row_h = 960, 330, 260, 18
    sections = [("per kernel", bars(rep, kernels)), ("per object", bars(rep, None))]
    t = rep.totals
    scale_flash = max([b.flash for _, rows in sections for b in rows] + [1])
    scale_ram = max([b.ram for _, rows in sections for b in rows] + [1])
    out: list[str] = []
    y = 30
    out.append(f'<text x="10" y="{y}" class="title">{html.escape(title)}</text>')
    y += 22
    out.append(f'<text x="10" y="{y}">flash {t.flash:,} B (text {t.text:,} + data {t.data:,}), '
               f'static RAM {t.ram:,} B (data {t.data:,} + bss {t.bss:,})</text>')
    for heading, rows in sections:
        if not rows:
            continue
        y += 34
        out.append(f'<text x="10" y="{y}" class="head">{heading}</text>'
                   f'<text x="{label_w}" y="{y}" class="head">flash (bytes)</text>'
                   f'<text x="{label_w + bar_w + 110}" y="{y}" class="head">RAM (bytes)</text>')
        for bar in rows:
            y += row_h
            fw = max(1, round(bar_w * bar.flash / scale_flash)) if bar.flash else 0
            rw = max(1, round(bar_w * bar.ram / scale_ram)) if bar.ram else 0
            out.append(f'<text x="10" y="{y}">{html.escape(bar.label[-52:])}</text>'
                       f'<rect x="{label_w}" y="{y - 12}" width="{fw}" height="13" class="flash"/>'
                       f'<text x="{label_w + fw + 4}" y="{y}" class="n">{bar.flash:,}</text>'
                       f'<rect x="{label_w + bar_w + 110}" y="{y - 12}" width="{rw}" height="13" class="ram"/>'
                       f'<text x="{label_w + bar_w + 114 + rw}" y="{y}" class="n">{bar.ram:,}</text>')
    if not rep.objects:
        y += 30
        out.append(f'<text x="10" y="{y}">no linker map: per-object shares need {rep.program.name}.map</text>')
    style = ("text{font:12px sans-serif;fill:#222}.title{font-size:16px;font-weight:bold}.head{font-weight:bold}"
             ".n{fill:#555;font-size:11px}.flash{fill:#3b7dd8}.ram{fill:#e08a2c}")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + 20}" '
            f'viewBox="0 0 {width} {y + 20}"><style>{style}</style>' + "".join(out) + "</svg>\n")


def write_chart(rep: SizeReport, path: Path, title: str, kernels: set[str]) -> None:
    """SVG, or an HTML page holding it when the name ends in .html."""
    drawing = svg(rep, title, kernels)
    if path.suffix == ".html":
        drawing = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
                   f"<body>{drawing}</body></html>\n")
    elif path.suffix != ".svg":
        raise ConfigError(f"--chart {path}: the chart is an .svg or .html file", key="--chart",
                          fix="name the file e.g. size.svg or size.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(drawing)


def _gen_folder(variables: Mapping[str, str]) -> Path | int:
    """The configuration's gen folder, as scons names it (list_gendir with the same variables); or
    scons's exit status when it refused them."""
    proc = subprocess.run(scons_argv(["list_gendir", *(f"{k}={v}" for k, v in variables.items())]),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return proc.returncode
    folder = next(line.strip() for line in proc.stdout.splitlines() if line.strip().endswith("/"))
    return build_root(Path.cwd()) / folder  # an absolute GEN_DIR stays absolute


def chart_command(program: str, path: Path, variables: Mapping[str, str]) -> int:
    """Find the program's ELF through scons and write the chart."""
    gen = _gen_folder(variables)
    if isinstance(gen, int):
        return gen
    rep = report(gen / "bin" / program)
    write_chart(rep, path, f"{program}  ({gen.name})", kernel_objects(gen))
    print(f"tflm-build: size chart of {program}: {path}")
    return 0


def size_json(program: str, variables: Mapping[str, str]) -> int:
    """Print the built program's sizes as JSON: totals (flash, RAM) and every object's share."""
    gen = _gen_folder(variables)
    if isinstance(gen, int):
        return gen
    rep = report(gen / "bin" / program)
    print(json.dumps({"program": str(rep.program), "config": gen.name, "map_file": str(rep.map_file or "") or None,
                      "totals": {**asdict(rep.totals), "flash": rep.totals.flash, "ram": rep.totals.ram},
                      "objects": [{"name": s.name, **asdict(s.sizes)} for s in rep.objects]}, indent=1))
    return 0
