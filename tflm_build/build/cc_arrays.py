"""Turn model and test-data files into C++ arrays, as TFLM's generate_cc_arrays.py does.

Ours needs no Pillow or NumPy (the Makefile needs Pillow just to parse): .tflite
and other binaries become bytes, 8/24/32-bit BMPs their pixel bytes top row
first (PIL's ``tobytes()`` order), 16-bit PCM .wav files their samples, and a
one-line .csv its values.  Symbol names match TFLM's: ``g_<stem>_model_data``,
``g_<stem>_image_data``, ``g_<stem>_audio_data``, ``g_<stem>_test_data``, each
with a ``..._size`` constant.
"""
from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..files import write_atomic

SUFFIXES = {".tflite": "_model_data", ".bmp": "_image_data", ".wav": "_audio_data", ".csv": "_test_data"}


@dataclass(frozen=True)
class CArray:
    """An array's C name, element type, element count and initialiser text."""

    name: str
    ctype: str
    size: int
    body: str


def output_stem(relpath: str) -> str:
    """``models/x.tflite`` -> ``models/x_model_data`` (the generated .cc/.h without suffix)."""
    path = Path(relpath)
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"cannot turn '{relpath}' into a C array", choices=sorted(SUFFIXES),
                          fix="list only .tflite, .bmp, .wav or .csv files as generator inputs")
    return str(path.with_suffix("")) + SUFFIXES[path.suffix]


def _csv_type(name: str) -> str:
    for tag, ctype in (("_int32.csv", "int32_t"), ("_int16.csv", "int16_t"), ("_int8.csv", "int8_t")):
        if name.endswith(tag):
            return ctype
    return "float"


def _bmp_pixels(data: bytes, source: Path) -> bytes:
    if data[:2] != b"BM" or len(data) < 54:
        raise ConfigError("not a BMP file", file=source, fix="give an uncompressed Windows BMP")
    offset = struct.unpack_from("<I", data, 10)[0]
    width, height, _planes, bpp, compression = struct.unpack_from("<iiHHI", data, 18)
    if compression not in (0, 3) or bpp not in (8, 24, 32):
        raise ConfigError(f"unsupported BMP ({bpp} bits, compression {compression})", file=source,
                          fix="save it as an uncompressed 8-bit grayscale or 24-bit BMP")
    channels = bpp // 8
    stride = (width * channels + 3) & ~3
    rows = [data[offset + r * stride: offset + r * stride + width * channels] for r in range(abs(height))]
    if height > 0:  # stored bottom-up
        rows.reverse()
    if channels == 1:
        return b"".join(rows)
    out = bytearray()
    for row in rows:  # BGR(A) -> RGB, as PIL reports an RGB image
        for i in range(0, len(row), channels):
            out += bytes((row[i + 2], row[i + 1], row[i]))
    return bytes(out)


def make_array(source: Path) -> CArray:
    """Read ``source`` and describe the C array TFLM's generator would emit for it."""
    stem = source.name.split(".")[-2] if source.name.count(".") else source.name
    kind = source.suffix
    if kind == ".wav":
        with wave.open(str(source), "rb") as wav:
            frames = wav.getnframes()
            raw = wav.readframes(frames)
            samples = struct.unpack(f"<{len(raw) // 2}h", raw)
        return CArray(f"g_{stem}_audio_data", "int16_t", frames, ",".join(map(str, samples)))
    if kind == ".csv":
        first = source.read_text().splitlines()[0].strip() if source.stat().st_size else ""
        count = len(first.split(",")) if first else 0
        return CArray(f"g_{stem}_test_data", _csv_type(source.name), count, first)
    data = source.read_bytes()
    if kind == ".bmp":
        pixels = _bmp_pixels(data, source)
        return CArray(f"g_{stem}_image_data", "unsigned char", len(pixels), ",".join(hex(b) for b in pixels))
    return CArray(f"g_{stem}{SUFFIXES.get(kind, '_data')}", "unsigned char", len(data),
                  ",".join(hex(b) for b in data))


def render(array: CArray, header_include: str) -> tuple[str, str]:
    """The .cc and .h texts; the .cc includes its header by ``header_include``."""
    cc = (f"#include <cstdint>\n\n#include \"{header_include}\"\n\n"
          f"alignas(16) const {array.ctype} {array.name}[] = {{{array.body}}};\n")
    h = (f"#include <cstdint>\n\nconstexpr unsigned int {array.name}_size = {array.size};\n"
         f"extern const {array.ctype} {array.name}[];\n")
    return cc, h


def generate(source: Path, cc_path: Path, h_path: Path, header_include: str) -> None:
    """Write both files, each through a temporary name so no half-written file is left."""
    cc, h = render(make_array(source), header_include)
    for path, text in ((cc_path, cc), (h_path, h)):
        write_atomic(path, text)
