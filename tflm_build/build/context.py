"""What the build derives once and every goal declaration reads: the Build record and each program's sources."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model.examples import ExampleRegistry
from ..model.targets import Target, TargetRegistry
from .configuration import CompileFlags, Configuration
from .variables import Config


@dataclass
class Build:
    """Everything main() derives, kept together for the goal declarations."""

    env: Any
    config: Config
    target: Target
    tflm: Path
    gen: Path
    toolchain: str
    rules: dict[str, Any]
    configuration: Configuration
    flags: CompileFlags  # the configuration's flags, as the environment got them
    unavailable: dict[str, str] = field(default_factory=dict)  # program -> why it cannot be built here
    examples: ExampleRegistry | None = None
    library: Any = None  # sources.Library: the selection for this configuration
    lib: Any = None  # LibraryNodes: the library's objects and archives, declared on demand
    programs: dict[str, Any] = field(default_factory=dict)  # program name -> its ELF / executable node
    makers: Any = None  # programs.Programs: links more programs (size_<program>'s full-library twin)
    model_aware: dict[str, str] = field(default_factory=dict)  # program -> what its subset library holds
    facts: Any = None  # FactCache of what model-aware selection read from files
    sources_of: dict[str, "ProgramSources"] = field(default_factory=dict)  # program name -> what it compiles
    roots: dict[str, Path] = field(default_factory=dict)  # dependency name -> its (verified) tree root
    targets: TargetRegistry | None = None  # every target: what an error may suggest instead of this one


@dataclass(frozen=True)
class ProgramSources:
    """What one program compiles: for project generation, size reports and model-aware builds."""

    name: str
    base: Path  # the TFLM root or the app's folder
    sources: tuple[str, ...]  # relative to base
    generator_inputs: tuple[str, ...]  # relative to base
    defines: tuple[str, ...]
    example: str | None  # example name, None for a TFLM unit test
    is_test: bool
