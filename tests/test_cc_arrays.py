"""Model and test-data files become the same C arrays TFLM's generator makes."""
from __future__ import annotations

import struct
import wave
from pathlib import Path

import pytest

from tflm_build.build.cc_arrays import make_array, output_stem, render
from tflm_build.errors import ConfigError


def test_tflite_bytes_and_names(tmp_path: Path) -> None:
    model = tmp_path / "sine_model.tflite"
    model.write_bytes(bytes([0, 1, 254, 255]))
    array = make_array(model)
    assert (array.name, array.ctype, array.size, array.body) == ("g_sine_model_model_data", "unsigned char", 4,
                                                                 "0x0,0x1,0xfe,0xff")
    cc, h = render(array, "models/sine_model_model_data.h")
    assert '#include "models/sine_model_model_data.h"' in cc
    assert "alignas(16) const unsigned char g_sine_model_model_data[] = {0x0,0x1,0xfe,0xff};" in cc
    assert "constexpr unsigned int g_sine_model_model_data_size = 4;" in h
    assert output_stem("a/b/sine_model.tflite") == "a/b/sine_model_model_data"


def _bmp(path: Path, width: int, height: int, bpp: int, pixels: list[bytes]) -> None:
    stride = (width * bpp // 8 + 3) & ~3
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256)) if bpp == 8 else b""
    offset = 54 + len(palette)
    rows = b"".join(row.ljust(stride, b"\0") for row in reversed(pixels))  # bottom-up
    header = b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bpp, 0, len(rows), 0, 0, 0, 0)
    path.write_bytes(header + info + palette + rows)


def test_bmp_8_and_24_bit_top_row_first(tmp_path: Path) -> None:
    gray = tmp_path / "img.bmp"
    _bmp(gray, 3, 2, 8, [bytes([1, 2, 3]), bytes([4, 5, 6])])
    array = make_array(gray)
    assert array.name == "g_img_image_data" and array.size == 6
    assert array.body == "0x1,0x2,0x3,0x4,0x5,0x6"
    color = tmp_path / "rgb.bmp"
    _bmp(color, 1, 1, 24, [bytes([30, 20, 10])])  # stored B, G, R
    assert make_array(color).body == "0xa,0x14,0x1e"


def test_bmp_matches_pillow_when_available(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image", reason="Pillow not installed: the byte layout is checked above")
    image = tmp_path / "p.bmp"
    _bmp(image, 5, 3, 8, [bytes(range(i, i + 5)) for i in (0, 10, 20)])
    ours = bytes(int(x, 16) for x in make_array(image).body.split(","))
    assert ours == pil.open(image).tobytes()


def test_wav_samples(tmp_path: Path) -> None:
    path = tmp_path / "yes_30ms.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(struct.pack("<4h", 1, -2, 300, -32768))
    array = make_array(path)
    assert (array.name, array.ctype, array.size, array.body) == ("g_yes_30ms_audio_data", "int16_t", 4,
                                                                 "1,-2,300,-32768")


def test_csv_types(tmp_path: Path) -> None:
    path = tmp_path / "golden_int16.csv"
    path.write_text("1,2,-3\n")
    array = make_array(path)
    assert (array.name, array.ctype, array.size) == ("g_golden_int16_test_data", "int16_t", 3)


def test_unknown_input_kind() -> None:
    with pytest.raises(ConfigError, match="cannot turn"):
        output_stem("model.onnx")
