"""The size chart: flash and RAM grouped per kernel and per object, drawn as SVG (or SVG in HTML)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tflm_build.errors import ConfigError
from tflm_build.build.size import Share, SizeReport, Sizes
from tflm_build.cli.size_chart import ROWS, bars, kernel_objects, write_chart

REPORT = SizeReport(Path("bin/prog"), Sizes(5000, 300, 700), (
    Share("libtensorflow-microlite.a(conv.o)", Sizes(2000, 0, 0)),
    Share("gen/x/obj/kernels/tensorflow/lite/micro/kernels/cmsis_nn/conv.o", Sizes(500, 0, 100)),
    Share("libtensorflow-microlite.a(add.o)", Sizes(300, 20, 0)),
    Share("libtensorflow-microlite.a(micro_interpreter.o)", Sizes(1500, 200, 600)),
    *(Share(f"libc.a(lib_a-f{i}.o)", Sizes(10, 0, 0)) for i in range(40)),
), Path("bin/prog.map"))


def test_kernels_grouped_and_rows_capped(tmp_path: Path) -> None:
    for rel in ("kernels/tensorflow/lite/micro/kernels/conv.o", "kernels/tensorflow/lite/micro/kernels/add.o",
                "third_party_kernels/cmsis_nn/conv.o", "core/tensorflow/lite/micro/micro_interpreter.o"):
        (tmp_path / "obj" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "obj" / rel).write_bytes(b"")
    kernels = kernel_objects(tmp_path)
    assert kernels == {"conv.o", "add.o"}
    per_kernel = bars(REPORT, kernels)
    assert [(b.label, b.flash, b.ram) for b in per_kernel] == [("conv", 2500, 100), ("add", 320, 20)]
    per_object = bars(REPORT, None)
    assert len(per_object) == ROWS and per_object[0].label == "conv.o" and per_object[-1].label.endswith("more")
    assert sum(b.flash for b in per_object) == sum(s.sizes.flash for s in REPORT.objects)


@pytest.mark.parametrize("suffix", [".svg", ".html"])
def test_chart_is_well_formed(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"size{suffix}"
    write_chart(REPORT, path, "prog <test>", {"conv.o", "add.o"})
    text = path.read_text()
    svg = text[text.index("<svg"): text.index("</svg>") + 6]
    root = ET.fromstring(svg)
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "prog <test>" in labels and "per kernel" in labels and "per object" in labels and "conv" in labels
    assert any("flash 5,300 B" in (t or "") and "static RAM 1,000 B" in (t or "") for t in labels)


def test_chart_name_must_be_svg_or_html(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="an .svg or .html file"):
        write_chart(REPORT, tmp_path / "size.png", "prog", set())
