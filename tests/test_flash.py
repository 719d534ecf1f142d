"""flash_<program> for TARGET=sparkfun_edge: port errors before any work, and the blobs it would upload.

Without a board nothing is uploaded: the SDK's scripts make the OTA and
wired-update blobs from an image and our checks read them back.  The blob tests
need the AmbiqSuite SDK (AMBIQ_SUITE_SDK_DIR, an unpacked copy of the pinned
tree) and pycryptodome; the port tests run on fixture stand-ins for the SDK and
BSP trees, since the port is refused before anything is compiled.
"""
from __future__ import annotations

import binascii
import importlib.util
import os
import struct
from pathlib import Path

import pytest
from conftest import FIXTURE_DEPS, Fixture

from tflm_build.build import flash

SDK = os.environ.get("AMBIQ_SUITE_SDK_DIR")
needs_sdk = pytest.mark.skipif(
    not SDK or importlib.util.find_spec("Crypto") is None,
    reason="needs AMBIQ_SUITE_SDK_DIR (the pinned AmbiqSuite SDK) and pycryptodome")


def _edge_env() -> dict[str, str]:
    return {"AMBIQ_SUITE_SDK_DIR": str(FIXTURE_DEPS / "ambiq_suite_sdk"), "AMBIQ_SUITE_SDK_MODIFIED": "1",
            "SPARKFUN_BSPS_DIR": str(FIXTURE_DEPS / "sparkfun_bsps"), "SPARKFUN_BSPS_MODIFIED": "1"}


def test_port_that_does_not_exist_is_refused_before_any_work(fx: Fixture, tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB9"
    res = fx.scons("TARGET=sparkfun_edge", "flash_hello_world", f"PORT={port}", env=_edge_env())
    assert res.returncode == 2, res.output
    assert f"serial port {port} does not exist (key 'PORT')" in res.stderr
    assert "hold button 14" in res.stderr
    assert "CXX" not in res.stdout and "CC " not in res.stdout
    assert not (fx.gen / "sparkfun_edge_cortex-m4_default_gcc" / "bin").exists()


def test_missing_port_is_refused(fx: Fixture) -> None:
    res = fx.scons("TARGET=sparkfun_edge", "flash_hello_world", env=_edge_env())
    assert res.returncode == 2, res.output
    assert "flashing needs the board's serial port (key 'PORT')" in res.stderr
    assert "PORT=/dev/ttyUSB0" in res.stderr


def test_flash_goals_are_listed_for_programs_not_tests(fx: Fixture) -> None:
    res = fx.scons("TARGET=sparkfun_edge", "-h", env=_edge_env())
    assert res.returncode == 0, res.output
    assert "flash_hello_world" in res.stdout
    assert "flash_hello_world_test" not in res.stdout
    other = fx.scons("TARGET=cortex_m_qemu", "TARGET_ARCH=cortex-m4", "-h")
    assert "flash_hello_world" not in other.stdout  # only targets whose vars name a flash procedure


def _ota(image: bytes, address: int = 0xC000, magic: int = 0xCB) -> bytes:
    padded = image + bytes([-len(image) % 4]) * (-len(image) % 4)
    header = bytearray(flash.OTA_HEADER_BYTES)
    struct.pack_into("<I", header, 0, (magic << 24) | (len(header) + len(padded)))
    struct.pack_into("<I", header, flash.OTA_ADDR_OFFSET, address)
    crc = binascii.crc32(bytes(header[8:]) + padded) & 0xFFFFFFFF
    struct.pack_into("<I", header, 4, crc)
    return bytes(header) + padded


def test_blob_checks_find_what_is_wrong(tmp_path: Path) -> None:
    image = bytes(range(256)) * 4 + b"\x01\x02\x03"
    blob = tmp_path / "ota.bin"
    blob.write_bytes(_ota(image))
    flash.check_ota_blob(blob, image, 0xC000)
    for bad, problem in ((_ota(image, address=0x10000), "load address 0x10000, expected 0xC000"),
                         (_ota(image, magic=0xC0), "magic 0xC0, expected 0xCB"),
                         (_ota(image)[:-4] + b"\0\0\0\0", "CRC mismatch")):
        blob.write_bytes(bad)
        with pytest.raises(flash.BlobError, match=problem):
            flash.check_ota_blob(blob, image, 0xC000)
    ota = _ota(image)
    header = bytearray(flash.WIRE_HEADER_BYTES)
    header[flash.WIRE_TYPE_OFFSET], header[flash.WIRE_OPTIONS_OFFSET] = 6, 1
    struct.pack_into("<II", header, flash.WIRE_ADDR_OFFSET, 0x20000, len(ota))
    wire = tmp_path / "wire.bin"
    wire.write_bytes(bytes(header) + ota)
    flash.check_wire_blob(wire, ota)
    wire.write_bytes(bytes(header) + ota[:-1])
    with pytest.raises(flash.BlobError, match="the payload is not the OTA blob"):
        flash.check_wire_blob(wire, ota)


@needs_sdk
def test_sdk_scripts_make_well_formed_blobs_without_touching_the_sdk(tmp_path: Path) -> None:
    tools = Path(str(SDK)) / "tools" / "apollo3_scripts"
    before = sorted(p.name for p in tools.iterdir())
    image = tmp_path / "hello_world.bin"
    image.write_bytes(os.urandom(4093))  # not a whole number of words: the scripts pad it
    ota, wire = flash.make_blobs(image, tools, tmp_path / "out", 0xC000)
    assert ota.name == "main_nonsecure_ota.bin" and wire.name == "main_nonsecure_wire.bin"
    assert ota.stat().st_size == flash.OTA_HEADER_BYTES + 4096
    assert wire.stat().st_size == flash.WIRE_HEADER_BYTES + ota.stat().st_size
    assert sorted(p.name for p in tools.iterdir()) == before  # keys_info.py went to a temporary copy


@needs_sdk
@pytest.mark.skipif(importlib.util.find_spec("serial") is None or not hasattr(os, "openpty"),
                    reason="needs pyserial and a pseudo-terminal")
def test_upload_to_a_port_where_no_bootloader_answers_fails_cleanly(tmp_path: Path) -> None:
    tools = Path(str(SDK)) / "tools" / "apollo3_scripts"
    image = tmp_path / "hello_world.bin"
    image.write_bytes(bytes(1024))
    _, wire = flash.make_blobs(image, tools, tmp_path / "out", 0xC000)
    controller, device = os.openpty()  # a serial port with nothing behind it
    try:
        with pytest.raises(flash.BlobError, match=r"the upload to /dev/\S+ failed \(exit status 1\)"):
            flash.upload(wire, tools, os.ttyname(device), 921600)
    finally:
        os.close(controller)
        os.close(device)
