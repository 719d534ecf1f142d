"""Load YAML with yaml's safe loader while remembering the line of every key.

Error messages must name the file, line and key; plain ``yaml.safe_load``
forgets where a value came from, so mappings are returned as :class:`LocDict`,
a dict that also records the 1-based line of each of its keys.

A YAML file is input we may not control (an app's YAML, a downloaded
project), so loading is bounded: aliases may not expand the document beyond
:data:`MAX_NODES` values (a few hundred bytes of "billion laughs" otherwise
expand to billions of values; ours hold a few thousand), recursive aliases and
nesting deeper than :data:`MAX_DEPTH` are refused, and a file that is not
UTF-8 is an error naming the file and line, like any syntax error.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, shorten

MAX_NODES = 1_000_000  # values after alias expansion; the largest of our files has ~10,000
MAX_DEPTH = 200  # nesting; ours go 6 deep


class LocDict(dict):
    """A dict that knows the file and the line of each key."""

    file: Path | None = None
    line: int | None = None
    lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = {}

    def line_of(self, key: str) -> int | None:
        return self.lines.get(key, self.line)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when present: ~5x faster start-up), building LocDicts with key lines."""

    source: Path | None = None


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    loader.flatten_mapping(node)
    result = LocDict()
    result.file = loader.source
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConfigError(
                f"mapping keys must be strings, got {shorten(key)}",
                file=loader.source,
                line=key_node.start_mark.line + 1,
                fix="quote the key",
            )
        if key in result:
            raise ConfigError(
                "duplicate key",
                file=loader.source,
                line=key_node.start_mark.line + 1,
                key=key,
                fix="remove one of the two entries",
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)  # type: ignore[arg-type]


def _check_depth(path: Path, text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before composing: libyaml's composer recurses in C and
    crashes the interpreter on ~100,000 ``[``; the event stream is flat, and cheap (0.3 ms for our largest file).
    """
    events = _Loader(text)
    try:
        depth = 0
        while events.check_event():
            event = events.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigError(f"YAML nested more than {MAX_DEPTH} levels deep", file=path,
                                      line=event.start_mark.line + 1, fix="flatten the structure")
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    finally:
        events.dispose()


def _check_size(path: Path, root: yaml.Node) -> None:
    """Refuse a node graph that expands to more than MAX_NODES values.

    Aliases make the graph a DAG whose expansion can be exponential in its
    size; counting with a memo per node takes time linear in the graph, so the
    check is as fast as the parse.  A node met again on the current path is a
    recursive alias.
    """
    expanded: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]

    def fail(node: yaml.Node, why: str) -> ConfigError:
        return ConfigError(why, file=path, line=node.start_mark.line + 1,
                           fix="write the values out, without aliases (&name / *name) that multiply them")

    while stack:
        node, state = stack.pop()
        if id(node) in expanded:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [item for pair in node.value for item in pair]
        if state == 0:
            if id(node) in on_path:
                raise fail(node, "recursive YAML alias")
            on_path.add(id(node))
            stack.append((node, 1))
            stack.extend((child, 0) for child in children if id(child) not in expanded)
            continue
        on_path.discard(id(node))
        expanded[id(node)] = 1 + sum(expanded[id(child)] for child in children)
        if expanded[id(node)] > MAX_NODES:
            raise fail(node, f"YAML aliases expand this document to more than {MAX_NODES} values")


def load_yaml(path: Path) -> Any:
    """Parse ``path`` safely; syntax errors become a ConfigError with file and line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read YAML file: {exc.strerror}", file=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}", file=path,
                          line=raw.count(b"\n", 0, exc.start) + 1,
                          fix="save the file as UTF-8") from None
    loader = _Loader(text)
    loader.source = path
    try:
        _check_depth(path, text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(path, node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(
            f"invalid YAML: {exc.problem or exc.context}",
            file=path,
            line=(mark.line + 1) if mark else None,
            fix="correct the YAML syntax at that line",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from None
    finally:
        loader.dispose()
