"""Goal flash_<program> PORT=<serial port>: put a program on a board through its bootloader.

A target opts in through its ``vars`` (the one free-form mapping a target has):

``flash``
    the upload procedure; ``ambiq_uart`` is the only one: the Ambiq secure
    bootloader's UART wired update, as SparkFun's Apollo3 boards use it.
``flash_dependency`` / ``flash_tools``
    the dependency whose tree holds the tools, and their folder in it
    (``ambiq_suite_sdk`` / ``tools/apollo3_scripts``).
``load_address``
    where the image runs (the target's linker script links it there).
``flash_baud``
    the upload's serial speed.

``ambiq_uart`` does what SparkFun's instructions do by hand, with the SDK's own
scripts: ``create_cust_image_blob.py`` wraps ``bin/<program>.bin`` into a
non-secure OTA blob for the load address (magic 0xCB),
``create_cust_wireupdate_blob.py`` wraps that into a wired-update blob (image
type 6), and ``uart_wired_update.py`` sends it at 921600 baud.  The scripts
import their keys from ``keys_info.py``, which the SDK ships as
``keys_info0.py``: they run from a temporary copy with that file added, so the
SDK tree (verified by its tree hash) is never written to.  The two blobs are
build outputs (``flash/<program>/main_nonsecure_{ota,wire}.bin``) rebuilt only
when the image changes; only the upload always runs.

Before any work: PORT must be given and exist, and the Python modules the
scripts need (pycryptodome, pyserial) must import; otherwise one message and
exit status 2.  The scripts report some errors only by printing, so each blob
is checked after it is written (:func:`check_ota_blob`, :func:`check_wire_blob`).
"""
from __future__ import annotations

import binascii
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, TflmBuildError
from .goals import Goals, goal_name

KINDS = ("ambiq_uart",)
# Fixed by the Ambiq secure bootloader (the SDK's am_defines.py); checked in the blobs we write.
OTA_MAGIC_NONSECURE = 0xCB
OTA_HEADER_BYTES = 128  # AM_IMAGEHDR_SIZE_AUX: header of a non-main OTA image
OTA_CRC_OFFSET, OTA_ADDR_OFFSET = 4, 112
WIRE_HEADER_BYTES = 96  # AM_WU_IMAGEHDR_SIZE
WIRE_TYPE_OFFSET, WIRE_OPTIONS_OFFSET, WIRE_ADDR_OFFSET, WIRE_SIZE_OFFSET = 80, 81, 88, 92
WIRE_IMAGE_TYPE_NONSECURE = 6
WIRE_LOAD_ADDRESS = 0x20000  # where the bootloader stages the OTA blob
WIRE_OPTIONS = 0x1
UPLOAD_TIMEOUT = 300  # seconds; the updater itself gives up after 12 s without an answer


@dataclass(frozen=True)
class AmbiqUart:
    """The ``ambiq_uart`` settings of a target."""

    tools: Path  # the SDK's tools/apollo3_scripts
    load_address: int
    baud: int


class BlobError(TflmBuildError):
    """A blob the SDK's scripts wrote is missing or malformed."""


def settings(target: Any, roots: dict[str, Path]) -> AmbiqUart | None:
    """The target's flash settings (None when it cannot flash); bad values are ConfigErrors.

    ``roots`` maps each dependency of the configuration to its verified tree.
    """
    values = target.vars
    kind = values.get("flash")
    if not kind:
        return None
    if kind not in KINDS:
        raise ConfigError(f"unknown flash procedure '{kind}'", file=target.file, key="vars.flash", choices=KINDS)
    missing = [k for k in ("flash_dependency", "flash_tools", "load_address", "flash_baud") if not values.get(k)]
    if missing:
        raise ConfigError(f"flash: {kind} needs {', '.join(missing)}", file=target.file, key="vars",
                          fix="see tflm_build/build/flash.py for what each value means")
    dep = values["flash_dependency"]
    if dep not in roots:
        raise ConfigError(f"flash tools come from '{dep}', which this target does not fetch", file=target.file,
                          key="vars.flash_dependency", choices=sorted(roots),
                          fix=f"add the target to needed_by.targets of third_party/{dep}.yaml")
    try:
        address, baud = int(values["load_address"], 0), int(values["flash_baud"], 0)
    except ValueError:
        raise ConfigError("load_address and flash_baud must be numbers (0xC000, 921600)", file=target.file,
                          key="vars") from None
    return AmbiqUart(roots[dep] / values["flash_tools"], address, baud)


def check_port(port: str) -> None:
    """PORT must name a serial device that exists now (checked before anything is built)."""
    if not port:
        raise ConfigError("flashing needs the board's serial port", key="PORT",
                          fix="pass PORT=/dev/ttyUSB0 (Linux), PORT=/dev/cu.usbserial-<id> (macOS) or PORT=COM3")
    if os.name == "nt" and not any(c in port for c in "/\\"):
        from serial.tools import list_ports  # Windows ports are names, not files
        present = sorted(p.device for p in list_ports.comports())
        if port.upper() not in (p.upper() for p in present):
            raise ConfigError(f"serial port {port} does not exist", key="PORT", choices=present,
                              fix="plug the board in and pass the port it shows up as")
        return
    if not Path(port).exists():
        present = sorted(str(p) for pattern in ("ttyUSB*", "ttyACM*", "cu.usbserial*", "cu.usbmodem*")
                         for p in Path("/dev").glob(pattern))
        raise ConfigError(f"serial port {port} does not exist", key="PORT", choices=present,
                          fix="plug the board in (hold button 14, press reset) and pass the port it shows up as")


def check_modules() -> None:
    """The SDK's scripts import pycryptodome (Crypto) and pyserial (serial)."""
    missing = [pkg for module, pkg in (("Crypto", "pycryptodome"), ("serial", "pyserial"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise ConfigError(f"the SDK's flashing scripts need the Python package(s) {', '.join(missing)}",
                          fix=f"{sys.executable} -m pip install {' '.join(missing)}")


def _run(argv: Sequence[str | Path], cwd: Path) -> None:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise BlobError(f"{Path(str(argv[1])).name} failed (exit status {proc.returncode}):\n"
                        f"{proc.stdout}{proc.stderr}".rstrip())


def _scripts_copy(tools: Path, work: Path) -> Path:
    """A copy of the SDK's scripts with keys_info.py, which they import, made from keys_info0.py."""
    scripts = work / "apollo3_scripts"
    shutil.copytree(tools, scripts, ignore=shutil.ignore_patterns("__pycache__", "sbl_updates"))
    shutil.copyfile(scripts / "keys_info0.py", scripts / "keys_info.py")
    return scripts


def make_blobs(image: Path, tools: Path, out_dir: Path, load_address: int) -> tuple[Path, Path]:
    """Write main_nonsecure_ota.bin and main_nonsecure_wire.bin for ``image`` into ``out_dir``; check both."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ota, wire = out_dir / "main_nonsecure_ota", out_dir / "main_nonsecure_wire"
    for old in (ota, wire):
        old.with_suffix(".bin").unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="tflm-flash-") as tmp:
        scripts = _scripts_copy(tools, Path(tmp))
        python = sys.executable
        _run([python, scripts / "create_cust_image_blob.py", "--bin", image.resolve(),
              "--load-address", hex(load_address), "--magic-num", hex(OTA_MAGIC_NONSECURE),
              "-o", ota.resolve(), "--version", "0x0"], scripts)
        _run([python, scripts / "create_cust_wireupdate_blob.py", "--load-address", hex(WIRE_LOAD_ADDRESS),
              "--bin", ota.with_suffix(".bin").resolve(), "-i", str(WIRE_IMAGE_TYPE_NONSECURE),
              "-o", wire.resolve(), "--options", hex(WIRE_OPTIONS)], scripts)
    ota_bin, wire_bin = ota.with_suffix(".bin"), wire.with_suffix(".bin")
    check_ota_blob(ota_bin, image.read_bytes(), load_address)
    check_wire_blob(wire_bin, ota_bin.read_bytes())
    return ota_bin, wire_bin


def check_ota_blob(path: Path, image: bytes, load_address: int) -> None:
    """A non-secure OTA blob: header (magic, length, CRC, load address) followed by the image."""
    if not path.is_file():
        raise BlobError(f"{path} was not written (see the script's output above)")
    blob = path.read_bytes()
    if len(blob) < OTA_HEADER_BYTES:
        raise BlobError(f"{path}: {len(blob)} bytes, shorter than its {OTA_HEADER_BYTES}-byte header")
    word0, crc = struct.unpack_from("<II", blob, 0)
    address, = struct.unpack_from("<I", blob, OTA_ADDR_OFFSET)
    problems = []
    if word0 >> 24 != OTA_MAGIC_NONSECURE:
        problems.append(f"magic 0x{word0 >> 24:02X}, expected 0x{OTA_MAGIC_NONSECURE:02X}")
    if word0 & 0x7FFFFF != len(blob):
        problems.append(f"length field {word0 & 0x7FFFFF}, file has {len(blob)} bytes")
    if address & ~0x3 != load_address:
        problems.append(f"load address 0x{address:X}, expected 0x{load_address:X}")
    # The image follows the header, padded to whole words (the scripts pad with the pad count).
    if blob[OTA_HEADER_BYTES:OTA_HEADER_BYTES + len(image)] != image or \
            len(blob) - OTA_HEADER_BYTES != len(image) + (-len(image) % 4):
        problems.append("the image after the header is not bin/<program>.bin")
    if binascii.crc32(blob[OTA_CRC_OFFSET + 4:]) & 0xFFFFFFFF != crc:
        problems.append("CRC mismatch")
    if problems:
        raise BlobError(f"{path} is malformed: " + "; ".join(problems))


def check_wire_blob(path: Path, ota: bytes) -> None:
    """A wired-update blob: one header (image type, options, staging address, size) and the OTA blob."""
    if not path.is_file():
        raise BlobError(f"{path} was not written (see the script's output above)")
    blob = path.read_bytes()
    if len(blob) < WIRE_HEADER_BYTES:
        raise BlobError(f"{path}: {len(blob)} bytes, shorter than its {WIRE_HEADER_BYTES}-byte header")
    address, size = struct.unpack_from("<II", blob, WIRE_ADDR_OFFSET)
    problems = []
    if blob[WIRE_TYPE_OFFSET] != WIRE_IMAGE_TYPE_NONSECURE:
        problems.append(f"image type {blob[WIRE_TYPE_OFFSET]}, expected {WIRE_IMAGE_TYPE_NONSECURE}")
    if blob[WIRE_OPTIONS_OFFSET] != WIRE_OPTIONS:
        problems.append(f"options {blob[WIRE_OPTIONS_OFFSET]}, expected {WIRE_OPTIONS}")
    if address != WIRE_LOAD_ADDRESS:
        problems.append(f"staging address 0x{address:X}, expected 0x{WIRE_LOAD_ADDRESS:X}")
    if size != len(ota) or blob[WIRE_HEADER_BYTES:] != ota:
        problems.append("the payload is not the OTA blob")
    if problems:
        raise BlobError(f"{path} is malformed: " + "; ".join(problems))


def upload(wire: Path, tools: Path, port: str, baud: int) -> None:
    """Send the wired-update blob to the bootloader (the board waits in it: button 14 held at reset)."""
    with tempfile.TemporaryDirectory(prefix="tflm-flash-") as tmp:
        scripts = _scripts_copy(tools, Path(tmp))
        argv = [sys.executable, str(scripts / "uart_wired_update.py"), "-b", str(baud), port, "-r", "1",
                "-f", str(wire.resolve()), "-i", str(WIRE_IMAGE_TYPE_NONSECURE)]
        print(f"FLASH {wire} -> {port} at {baud} baud (hold button 14 and press reset if it does not connect)",
              flush=True)
        try:
            proc = subprocess.run(argv, cwd=scripts, timeout=UPLOAD_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BlobError(f"the upload to {port} did not finish in {UPLOAD_TIMEOUT} s") from None
        if proc.returncode != 0:
            raise BlobError(f"the upload to {port} failed (exit status {proc.returncode})")


def declare(build: Any, goals: Goals) -> None:
    """flash_<program> for each non-test program of a target whose vars name a flash procedure."""
    from SCons.Action import Action

    if not build.target.vars.get("flash"):
        return
    flash = settings(build.target, build.roots)
    assert flash is not None
    if goals.asked("flash"):
        check_port(build.config["PORT"])
        check_modules()
    env = build.env

    def blobs(target: Any, source: Any, env: Any) -> int:
        try:
            make_blobs(Path(str(source[0])), flash.tools, Path(str(target[0])).parent, flash.load_address)
        except BlobError as err:
            print(err.message, file=sys.stderr)
            return 1
        return 0

    def send(target: Any, source: Any, env: Any) -> int:
        try:
            upload(Path(str(source[0])), flash.tools, build.config["PORT"], flash.baud)
        except BlobError as err:
            print(err.message, file=sys.stderr)
            return 1
        return 0

    for name, sources in build.sources_of.items():
        if sources.is_test or goal_name("bin", name) not in goals:
            continue
        goals[goal_name("flash", name)] = f"upload {name} to the board on PORT= (bootloader UART, {flash.baud} baud)"
        if name not in build.programs:  # not needed by this run's goals: no nodes (fast start-up)
            continue
        folder = build.gen / "flash" / name
        image = str(build.gen / "bin" / f"{name}.bin")
        made = env.Command([str(folder / "main_nonsecure_ota.bin"), str(folder / "main_nonsecure_wire.bin")],
                           image, Action(blobs, "BLOBS $TARGET"))
        env.Depends(made, [str(p) for p in sorted(flash.tools.glob("*.py"))])
        env.AlwaysBuild(env.Alias(f"flash_{name}", made[1], Action(send, None)))
