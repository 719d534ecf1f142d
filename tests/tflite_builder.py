"""Write tiny but valid .tflite flatbuffers (operator codes only) for tests."""
from __future__ import annotations

import struct


def tiny_tflite(ops: list[tuple[int, str | None]]) -> bytes:
    """A Model whose operator_codes hold (builtin_code, custom_code) pairs; CUSTOM is 32.

    Written front to back: every unsigned offset points forward, vtables sit
    just before their tables (a vtable offset is signed).
    """
    buf = bytearray(b"\0\0\0\0TFL3")

    def forward(slot: int, target: int) -> None:
        struct.pack_into("<I", buf, slot, target - slot)

    buf += struct.pack("<4H", 8, 8, 0, 4)  # Model vtable: field 0 absent, field 1 (operator_codes) at +4
    model = len(buf)
    struct.pack_into("<I", buf, 0, model)
    buf += struct.pack("<i", model - (model - 8))
    vector_slot = len(buf)
    buf += b"\0\0\0\0"
    vector = len(buf)
    forward(vector_slot, vector)
    buf += struct.pack("<I", len(ops))
    slots = [vector + 4 + 4 * i for i in range(len(ops))]
    buf += b"\0\0\0\0" * len(ops)
    for slot, (builtin, custom) in zip(slots, ops):
        vtable = len(buf)
        buf += struct.pack("<6H", 12, 16, 4, 8 if custom is not None else 0, 0, 12)
        table = len(buf)
        forward(slot, table)
        buf += struct.pack("<i", table - vtable)
        buf += struct.pack("<b3x", min(builtin, 127))
        str_slot = len(buf)
        buf += b"\0\0\0\0"
        buf += struct.pack("<i", builtin)
        if custom is not None:
            data = custom.encode()
            forward(str_slot, len(buf))
            buf += struct.pack("<I", len(data)) + data + b"\0"
            while len(buf) % 4:
                buf.append(0)
    return bytes(buf)
