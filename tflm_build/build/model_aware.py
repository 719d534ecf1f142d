"""Model-aware builds: compile only the kernels a program's op resolver registers.

TFLM programs register kernels through ``MicroMutableOpResolver::AddXxx()``;
each method names one ``Register_XXX()`` function, defined in one kernel file.
The kernels a program needs are the files defining those functions, plus the
kernel files they (and the core) use, found by following their
``#include "…/kernels/<x>.h"`` lines to ``<x>.cc`` / ``<x>_common.cc``.  The
models' operators are read too: an operator the resolver does not register is
reported, and an unknown custom operator makes the build fall back.

The core is trimmed the same way: a core file whose header nobody the program
links includes (the test helpers, fake contexts, mock graphs: a third of a
clean model-aware build's compile time) cannot be linked, so it is not compiled.

When the selection cannot be trusted (a resolver it cannot read, all-ops
registration, a custom op it does not know) it falls back to the full library
and says why in one line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from .factcache import FactCache
from .model_ops import ModelOps, builtin_names, read_model_ops

_METHOD = re.compile(r"TfLiteStatus\s+(Add\w+)\s*\(([^{;]*)\)\s*\{(.*?)\n\s*\}", re.S)
_REGISTER_DEF = re.compile(r"TFLMRegistration\s*\*?\s*(Register_\w+)\s*\(\s*\)\s*\{")
_INCLUDE = re.compile(r'#include\s+"((?:tensorflow/lite/micro/kernels|signal/micro/kernels|signal/src)/[\w/]+)\.h"')
_CALL = re.compile(r"\.\s*(Add\w+)\s*\(")
_ALL_OPS = re.compile(r"\b(AllOpsResolver|PopulateOpResolver|RegisterAllOps|gen_micro_mutable_op_resolver)\b")
_DIRECT = re.compile(r"\.\s*(AddBuiltin|AddCustom)\s*\(")
_QUOTED = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', re.M)

RESOLVER_HEADER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"
SCHEMA_HEADER = "tensorflow/lite/schema/schema_generated.h"
T = TypeVar("T")


@dataclass
class Method:
    """One MicroMutableOpResolver method: the op it registers and the function it calls."""

    op: str  # builtin name (FULLY_CONNECTED) or custom name (SignalWindow)
    register: str  # Register_FULLY_CONNECTED
    custom: bool


@dataclass
class Selection:
    """The kernel files to compile for one program, or None with the reason to use them all."""

    kernels: list[str] | None
    reason: str
    ops: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)  # model ops no resolver method registers


def _parse_methods(header: Path) -> dict[str, list[Any]]:
    methods: dict[str, list[Any]] = {}
    for name, params, body in _METHOD.findall(_read(header)):
        register = re.search(r"(Register_\w+)\s*\(\)", params + body)
        builtin = re.search(r"BuiltinOperator_(\w+)", body)
        custom = re.search(r'AddCustom\(\s*"(\w+)"', body)
        if register and (builtin or custom):
            methods[name] = [builtin.group(1) if builtin else custom.group(1), register.group(1), not builtin]
    return methods


def resolver_methods(tflm: Path, facts: FactCache | None = None) -> dict[str, Method]:
    """Method name -> Method, read from the pinned micro_mutable_op_resolver.h."""
    header = tflm / RESOLVER_HEADER
    raw = facts.get(header, "resolver", _parse_methods) if facts else _parse_methods(header)
    return {name: Method(*value) for name, value in raw.items()}


def _kernel_facts(path: Path) -> list[list[str]]:
    """[Register_ functions defined, kernel headers included] of one source file."""
    text = _read(path)
    return [_REGISTER_DEF.findall(text), _INCLUDE.findall(text)]


def _ops_fact(model: Path, names: dict[int, str]) -> list[list[str]]:
    ops = read_model_ops(model, names)
    return [sorted(ops.builtins), sorted(ops.customs)]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _closure(seeds: Iterable[str], kernels: Sequence[str], includes: Callable[[str], list[str]]) -> list[str]:
    """Follow kernel-header includes from ``seeds`` to the kernel files implementing them.

    TFLM names implementations after their header: ``x.h`` is implemented in
    ``x.cc`` and ``x_<suffix>.cc`` (``conv_common.cc``, ``rfft_int16.cc``).  A
    prefix match may take a file too many (``add_n.cc`` for ``add.h``), which
    costs one compile; never one too few, which would fail the link.  Headers
    are followed too (``depthwise_conv.h`` includes ``conv.h``, whose constants
    live in ``conv_common.cc``).
    """
    stems = [(Path(path).stem, path) for path in kernels]

    def step(path: str) -> Iterator[str]:
        for header in includes(path):
            name = Path(header).name  # x.h is implemented by x.cc, x_common.cc, x_int16.cc ...
            yield header + ".h"
            yield from (p for stem, p in stems if stem == name or stem.startswith(name + "_"))

    reached = _reach(seeds, step)
    return [k for k in kernels if k in reached]


def _reach(seeds: Iterable[T], step: Callable[[T], Iterable[T]]) -> set[T]:
    """Everything reached from ``seeds`` by ``step``, each visited once."""
    queue = list(seeds)
    seen: set[T] = set()
    while queue:
        item = queue.pop()
        if item not in seen:
            seen.add(item)
            queue.extend(step(item))
    return seen


def _gates(path: Path) -> list[Path]:
    """The headers beside a core file that name it: ``x.h`` for ``x.cc`` and ``x_suffix.cc``."""
    parts = path.stem.split("_")
    return [h for h in (path.with_name("_".join(parts[:n]) + ".h") for n in range(1, len(parts) + 1)) if h.is_file()]


def needed_core(tflm: Path, core: Sequence[str], seeds: Iterable[Path], facts: FactCache | None = None) -> list[str]:
    """The core files (as listed in ``core``) a program built from ``seeds`` can link.

    A core file beside a header that names it (:func:`_gates`) defines what that
    header declares, so only code that includes the header can call into it; it
    is needed when the header is reached by following quoted includes (TFLM-
    relative, or beside the includer) from the seeds and from every core file
    needed so far.  A core file no header names (target glue, files elsewhere)
    is always needed.  A wrong guess fails the link loudly; it cannot change a
    program, since an archive member no object references is never linked.
    """
    paths = {name: Path(name) if Path(name).is_absolute() else tflm / name for name in core}
    gates = {name: _gates(path) for name, path in paths.items()}
    gated: dict[Path, list[Path]] = {}
    for name, headers in gates.items():
        for header in headers:
            gated.setdefault(header, []).append(paths[name])

    def step(path: Path) -> Iterator[Path]:
        for spelling in facts.get(path, "quoted", _quoted) if facts else _quoted(path):
            header = next((h for h in (tflm / spelling, path.parent / spelling) if h.is_file()), None)
            if header is not None:
                yield header
                yield from gated.get(header, [])

    reached = _reach([*seeds, *(paths[name] for name in core if not gates[name])], step)
    return [name for name in core if not gates[name] or any(h in reached for h in gates[name])]


def _quoted(path: Path) -> list[str]:
    return _QUOTED.findall(_read(path))


def select(tflm: Path, kernels: Sequence[str], core: Sequence[str], program_sources: Sequence[Path],
           models: Sequence[Path], facts: FactCache | None = None) -> Selection:
    """Choose the kernel files (TFLM-relative, as in ``kernels``) a program needs.

    ``facts`` remembers what each file says between runs, so a no-op build reads none of them.
    """
    code = "\n".join(_read(p) for p in program_sources)
    if _ALL_OPS.search(code):
        return Selection(None, "its op resolver registers every operator")
    if _DIRECT.search(code):
        return Selection(None, "it registers kernels with AddBuiltin/AddCustom, which cannot be read statically")
    if "MicroMutableOpResolver" not in code:
        return Selection(None, "no MicroMutableOpResolver found in its sources")
    methods = resolver_methods(tflm, facts)
    calls = sorted(set(_CALL.findall(code)) & set(methods))
    if not calls:
        return Selection(None, "its op resolver registers no operator this build can read")
    registered = {methods[c].op for c in calls}
    schema = tflm / SCHEMA_HEADER
    names = {int(k): v for k, v in (facts.get(schema, "builtins", lambda p: builtin_names(p)) if facts
                                    else builtin_names(schema)).items()}
    custom_known = {m.op for m in methods.values() if m.custom}
    unregistered: set[str] = set()
    for model in models:
        if model.suffix != ".tflite":
            continue
        raw = (facts.get(model, "ops", lambda p: _ops_fact(p, names)) if facts else _ops_fact(model, names))
        ops = ModelOps(set(raw[0]), set(raw[1]))
        unknown = sorted(ops.customs - custom_known)
        if unknown:
            return Selection(None, f"{model.name} uses custom operator {unknown[0]}")
        unregistered |= (ops.builtins | ops.customs) - registered
    def fact(rel: str) -> list[list[str]]:
        path = tflm / rel
        return facts.get(path, "kernel", _kernel_facts) if facts else _kernel_facts(path)

    known = {k: fact(k) for k in kernels}
    defined: dict[str, str] = {}
    for path in kernels:
        for fn in known[path][0]:
            defined.setdefault(fn, path)
    missing = sorted(methods[c].register for c in calls if methods[c].register not in defined)
    if missing:
        return Selection(None, f"no kernel file defines {missing[0]}()")
    seeds = [defined[methods[c].register] for c in calls]
    def includes(rel: str) -> list[str]:
        return known[rel][1] if rel in known else ([] if Path(rel).is_absolute() else fact(rel)[1])

    chosen = _closure([*seeds, *core], kernels, includes)
    return Selection(chosen, f"{len(chosen)} of {len(kernels)} kernel files for {', '.join(sorted(registered))}",
                     sorted(registered), sorted(unregistered))
