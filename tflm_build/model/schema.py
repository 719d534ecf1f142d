"""A small declarative schema for our YAML files (targets, examples, deps, matrices).

Why not a JSON-schema library: our messages must name the file and *line* of
the offending key and suggest the closest valid key; the schema is a few dozen
fields, so a declarative table plus one recursive checker is shorter than
mapping a generic validator's error paths back onto YAML marks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from ..errors import ConfigError, closest, shorten
from .yamlio import LocDict

_TYPE_NAMES = {str: "a string", bool: "true or false", int: "a whole number", list: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Field:
    """One key of a mapping: its type, whether it is required, and what it may hold."""

    kind: type
    required: bool = False
    choices: tuple[str, ...] = ()
    items: "Union[type, Schema, Field, None]" = None  # element type of a list
    schema: "Schema | None" = None  # fixed keys of a mapping
    values: "Union[type, Schema, Field, None]" = None  # value type of a free-keyed mapping
    doc: str = ""
    default: Any = None  # the value when the key is absent: its one home (see with_defaults)


Schema = Mapping[str, Field]


def _fail(msg: str, data: Any, key: str, path: str, **kw: Any) -> ConfigError:
    file = getattr(data, "file", None)
    line = data.line_of(key) if isinstance(data, LocDict) and key in data else getattr(data, "line", None)
    return ConfigError(msg, file=file, line=line, key=path, **kw)


def _check_value(value: Any, spec: "Union[type, Schema, Field]", parent: Any, key: str, path: str) -> None:
    if isinstance(spec, Field):
        _check_field(value, spec, parent, key, path)
    elif isinstance(spec, type):
        _check_field(value, Field(spec), parent, key, path)
    else:
        if not isinstance(value, dict):
            raise _fail(f"expected a mapping, got {type(value).__name__}", parent, key, path,
                        fix=f"write '{key}' as a mapping of keys: " + ", ".join(spec))
        validate(value, spec, path)


def _check_field(value: Any, spec: Field, parent: Any, key: str, path: str) -> None:
    kind = spec.kind
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        ok = False
    if not ok:
        raise _fail(f"expected {_TYPE_NAMES.get(kind, kind.__name__)}, got {type(value).__name__} {shorten(value)}",
                    parent, key, path, fix=f"give '{key}' {_TYPE_NAMES.get(kind, kind.__name__)}")
    if spec.choices and value not in spec.choices:
        near = closest(str(value), spec.choices)
        raise _fail(f"invalid value {shorten(value)}", parent, key, path, choices=spec.choices,
                    fix=f"did you mean '{near}'?" if near else "use one of the valid choices")
    if kind is list and spec.items is not None:
        for index, item in enumerate(value):
            _check_value(item, spec.items, parent, key, f"{path}[{index}]")
    if kind is dict:
        if spec.schema is not None:
            validate(value, spec.schema, path)
        elif spec.values is not None:
            for sub_key, sub_value in value.items():
                _check_value(sub_value, spec.values, value, sub_key, f"{path}.{sub_key}")


def validate(data: Any, schema: Schema, path: str = "") -> None:
    """Check ``data`` against ``schema``; raise ConfigError naming file, line and key."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at '{path or 'top level'}', got {type(data).__name__}",
                          file=getattr(data, "file", None), fix="write the file as 'key: value' lines")
    for key in data:
        if key not in schema:
            near = closest(key, schema)
            raise _fail("unknown key", data, key, f"{path}.{key}" if path else key, choices=sorted(schema),
                        fix=f"did you mean '{near}'?" if near else "remove it or use one of the valid keys")
    for key, spec in schema.items():
        full = f"{path}.{key}" if path else key
        if key not in data or data[key] is None:
            if spec.required:
                raise ConfigError("missing required key", file=getattr(data, "file", None),
                                  line=getattr(data, "line", None), key=full,
                                  fix=f"add '{key}:' ({spec.doc or _TYPE_NAMES.get(spec.kind, '')})")
            continue
        _check_field(data[key], spec, data, key, full)


def with_defaults(data: Mapping[str, Any] | None, schema: Schema) -> dict[str, Any]:
    """``data`` (validated) with every absent key of ``schema`` set to its field's default.

    A mapping with fixed keys is filled recursively, so ``toolchain.family`` gets its
    default even when the whole ``toolchain:`` is absent.  Lists become tuples.
    """
    data = data or {}
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        value = data.get(key)
        if spec.kind is dict and spec.schema is not None:
            out[key] = with_defaults(value, spec.schema) if value is not None or spec.default is None else spec.default
        else:
            out[key] = spec.default if value is None else value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def str_list(doc: str = "", required: bool = False, default: Any = ()) -> Field:
    """A list of strings: the commonest field in our files."""
    return Field(list, required=required, items=str, doc=doc, default=default)


__all__ = ["Field", "Schema", "validate", "with_defaults", "str_list", "field"]
