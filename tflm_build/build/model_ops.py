"""Which operators a .tflite model uses, read straight from its flatbuffer.

No TensorFlow and no flatbuffers package: a TFLite model is a flatbuffer
whose root table (Model) holds ``operator_codes`` (field 1), a vector of
OperatorCode tables with ``deprecated_builtin_code`` (field 0, int8),
``custom_code`` (field 1, string) and ``builtin_code`` (field 3, int32).  The
code of an operator is the larger of the two builtin fields (the schema's
rule since builtin codes passed 127).  Names come from the BuiltinOperator
enum in the TFLM tree's schema_generated.h, so they follow the pinned schema.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError


@dataclass
class ModelOps:
    """Builtin operator names and custom operator names of one model."""

    builtins: set[str] = field(default_factory=set)
    customs: set[str] = field(default_factory=set)


class _Table:
    """Just enough flatbuffer table access: scalar, string and vector-of-table fields."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vt_size = struct.unpack_from("<H", buf, vtable)[0]
        self.vtable = vtable

    def _offset(self, field_index: int) -> int:
        slot = 4 + 2 * field_index
        if slot >= self.vt_size:
            return 0
        return struct.unpack_from("<H", self.buf, self.vtable + slot)[0]

    def scalar(self, field_index: int, fmt: str, default: int = 0) -> int:
        off = self._offset(field_index)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off)[0] if off else default

    def _indirect(self, field_index: int) -> int | None:
        off = self._offset(field_index)
        if not off:
            return None
        at = self.pos + off
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def string(self, field_index: int) -> str | None:
        at = self._indirect(field_index)
        if at is None:
            return None
        length = struct.unpack_from("<I", self.buf, at)[0]
        return self.buf[at + 4: at + 4 + length].decode("utf-8", "replace")

    def tables(self, field_index: int) -> list["_Table"]:
        at = self._indirect(field_index)
        if at is None:
            return []
        count = struct.unpack_from("<I", self.buf, at)[0]
        items = []
        for i in range(count):
            slot = at + 4 + 4 * i
            items.append(_Table(self.buf, slot + struct.unpack_from("<I", self.buf, slot)[0]))
        return items


def builtin_names(schema_header: Path) -> dict[int, str]:
    """BuiltinOperator code -> name, from the TFLM tree's schema_generated.h."""
    text = schema_header.read_text(errors="replace")
    start = text.find("enum BuiltinOperator ")
    body = text[start: text.find("};", start)]
    names = {int(code): name for name, code in re.findall(r"BuiltinOperator_(\w+) = (-?\d+)", body)
             if name not in ("MIN", "MAX")}
    if not names:
        raise ConfigError("no BuiltinOperator enum found", file=schema_header,
                          fix="point TFLM_ROOT at a TFLM tree with tensorflow/lite/schema/schema_generated.h")
    return names


def read_model_ops(model: Path, names: dict[int, str]) -> ModelOps:
    """The operators ``model`` uses; a file that is not a TFLite flatbuffer is a ConfigError."""
    buf = model.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ConfigError("not a TFLite model (no TFL3 identifier)", file=model,
                          fix="list only .tflite flatbuffers as generator inputs")
    try:
        root = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
        ops = ModelOps()
        for code in root.tables(1):
            custom = code.string(1)
            builtin = max(code.scalar(0, "b"), code.scalar(3, "i"))
            if custom is not None and names.get(builtin) == "CUSTOM":
                ops.customs.add(custom)
            else:
                ops.builtins.add(names.get(builtin, f"UNKNOWN_{builtin}"))
        return ops
    except (struct.error, IndexError) as exc:
        raise ConfigError(f"corrupt TFLite model ({exc})", file=model, fix="regenerate the model") from None
