"""The keil project kind: the .uvprojx alone says how to build the example, and that build runs.

uVision and Arm Compiler 6 are Windows tools, so the test does what uVision would with the
project file: it reads the .uvprojx (xml.etree) and compiles exactly the files of its groups with
the include paths, defines, language levels, optimisation levels and MiscControls it names,
using arm-none-eabi-gcc, then runs the program under QEMU.  What uVision takes from elsewhere is
stood in for: the CPU options it derives from the device (<Cpu>, <RvdsVP>, <RvdsMve>) become the
equivalent gcc flags, and the device's startup component and scatter file (CMSIS packs) are
replaced by the GCC startup code and linker script of TARGET=cortex_m_qemu, which the project
carries.  So a source or an include path missing from the XML fails the build; the test also
checks that every C/C++ file of the folder is listed, and that the device of every TARGET_ARCH
means the CPU, FPU and float ABI the target's YAML compiles for.
"""
from __future__ import annotations

import re
import shlex
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pytest
from conftest import REPO, Fixture
from test_projects import PASS, _dfp, _generate, _run, assert_self_contained, needs_arm

from tflm_build.model.targets import TargetRegistry

ARCH = "cortex-m4+fp"  # hard float: the device's FPU must reach the compiler
CONFIG = f"cortex_m_qemu_{ARCH}_default_gcc"
GCC_STARTUP = ("cortex_m_qemu/",)  # the GCC startup and linker script: not in the uVision build
C_STD = {1: "c90", 2: "gnu90", 3: "c99", 4: "gnu99", 5: "c11", 6: "gnu11"}
CXX_STD = {1: "c++98", 2: "gnu++98", 3: "c++11", 4: "gnu++11", 5: "c++03", 6: "c++14", 7: "gnu++14", 8: "c++17",
           9: "gnu++17"}
OPTIM = {1: "-O0", 2: "-O1", 3: "-O2", 4: "-O3", 5: "-Ofast", 6: "-Os", 7: "-Oz"}


@dataclass(frozen=True)
class Device:
    """The CPU options uVision gives Arm Compiler for a device and its Target-tab settings."""

    core: str  # "Cortex-M4"
    fpu: int  # RvdsVP: 1 none, 2 single, 3 double precision
    dsp: bool
    mve: int  # RvdsMve: 0 none, 1 integer, 2 integer and float
    float_abi: str = ""  # a -mfloat-abi= from MiscControls, which comes after uVision's own

    def gcc(self) -> tuple[str, str]:
        """(-mcpu, -mfloat-abi) for arm-none-eabi-gcc."""
        cpu = self.core.lower().replace("+", "plus")
        if self.core in ("Cortex-M33", "Cortex-M55", "Cortex-M85") and not self.dsp:
            cpu += "+nodsp"
        if self.fpu == 1 and self.core in ("Cortex-M4", "Cortex-M7", "Cortex-M33", "Cortex-M55", "Cortex-M85"):
            cpu += "+nofp"
        return cpu, self.float_abi or ("hard" if self.fpu > 1 else "soft")


@dataclass
class Group:
    name: str
    optim: str
    defines: list[str]
    includes: list[Path]
    files: list[tuple[Path, int]]  # (path, FileType)


@dataclass
class UvProject:
    device: Device
    c_std: str
    cxx_std: str
    misc: list[str]
    defines: list[str]
    includes: list[Path]
    groups: list[Group] = field(default_factory=list)


def _paths(text: str | None, folder: Path) -> list[Path]:
    return [folder / p.replace("\\", "/") for p in (text or "").split(";") if p.strip()]


def _defines(text: str | None) -> list[str]:
    return [d.strip().replace('\\"', '"') for d in (text or "").split(",") if d.strip()]


def read_uvprojx(path: Path) -> UvProject:
    target = ET.parse(path).getroot().find("Targets/Target")
    assert target is not None and target.findtext("uAC6") == "1" and target.findtext("ToolsetName") == "ARM-ADS"
    opts = target.find("TargetOption")
    assert opts is not None
    cpu = opts.findtext("TargetCommonOption/Cpu") or ""
    cads = opts.find("TargetArmAds/Cads")
    assert cads is not None
    misc = shlex.split(cads.findtext("VariousControls/MiscControls") or "")
    abi = next((m.split("=", 1)[1] for m in reversed(misc) if m.startswith("-mfloat-abi=")), "")
    device = Device(re.search(r'CPUTYPE\("([^"]+)"\)', cpu)[1],  # type: ignore[index]
                    int(opts.findtext("TargetArmAds/ArmAdsMisc/RvdsVP") or 1), " DSP" in cpu,
                    int(opts.findtext("TargetArmAds/ArmAdsMisc/RvdsMve") or 0), abi)
    project = UvProject(device, C_STD[int(cads.findtext("v6Lang") or 0)], CXX_STD[int(cads.findtext("v6LangP") or 0)],
                        misc, _defines(cads.findtext("VariousControls/Define")),
                        _paths(cads.findtext("VariousControls/IncludePath"), path.parent))
    default_optim = OPTIM[int(cads.findtext("Optim") or 0)]
    for group in target.findall("Groups/Group"):
        files = [(path.parent / (f.findtext("FilePath") or "").replace("\\", "/"), int(f.findtext("FileType") or 0))
                 for f in group.findall("Files/File")]
        if not files:
            continue  # the RTE's ::CMSIS and ::Device groups
        gcads = group.find("GroupOption/GroupArmAds/Cads")
        optim = int(gcads.findtext("Optim") or 0) if gcads is not None else 0
        project.groups.append(Group(group.findtext("GroupName") or "", OPTIM.get(optim, default_optim),
                                    _defines(gcads.findtext("VariousControls/Define")) if gcads is not None else [],
                                    _paths(gcads.findtext("VariousControls/IncludePath") if gcads is not None else "",
                                           path.parent), files))
    return project


def build_from_uvprojx(xml: Path, startup: list[Path], linker_script: Path, out: Path) -> Path:
    """Compile and link what the project file lists; returns the ELF (a failing step fails the test)."""
    project = read_uvprojx(xml)
    cpu, abi = project.device.gcc()
    arch = [f"-mcpu={cpu}", "-mfpu=auto", f"-mfloat-abi={abi}", "-mthumb"]
    objects: list[Path] = []

    def compile_one(source: Path, kind: int, optim: str, defines: list[str], includes: list[Path]) -> None:
        tool, std = {1: ("arm-none-eabi-gcc", project.c_std), 8: ("arm-none-eabi-g++", project.cxx_std)}[kind]
        obj = out / f"{len(objects)}_{source.stem}.o"
        _run([tool, *arch, f"-std={std}", optim, *project.misc, *(f"-D{d}" for d in project.defines + defines),
              *(f"-I{i}" for i in project.includes + includes), "-c", str(source), "-o", str(obj)], xml.parent)
        objects.append(obj)

    out.mkdir(parents=True, exist_ok=True)
    for group in project.groups:
        for source, kind in group.files:
            if kind in (1, 8):
                compile_one(source, kind, group.optim, group.defines, group.includes)
    for source in startup:  # stands in for the RTE's Device:Startup component
        compile_one(source, 1, "-Os", [], [])
    link = TargetRegistry(REPO / "targets").load("cortex_m_qemu", ARCH).flags("link")
    elf = out / "program.elf"
    _run(["arm-none-eabi-g++", *arch, *link, f"-T{linker_script}", *map(str, objects), "-lm", "-o", str(elf)],
         xml.parent)
    return elf


def _listed(project: UvProject) -> set[Path]:
    return {source for group in project.groups for source, _ in group.files}


@needs_arm
def test_keil_project_builds_from_its_uvprojx_and_runs_under_qemu(fx: Fixture, tmp_path: Path) -> None:
    _generate(fx, "TARGET=cortex_m_qemu", f"TARGET_ARCH={ARCH}", "generate_hello_world_keil_project",
              env=_dfp(tmp_path, "ARMCM4"))
    prj = fx.gendir(CONFIG) / "prj" / "hello_world" / "keil"
    assert_self_contained(prj, fx.gen, tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(prj, copy)
    shutil.rmtree(fx.gen)
    xml = copy / "hello_world.uvprojx"
    project = read_uvprojx(xml)
    assert project.device == Device("Cortex-M4", 2, False, 0)
    assert (project.c_std, project.cxx_std) == ("c11", "c++17")
    assert [g.name for g in project.groups] == ["TFLM core", "TFLM kernels", "hello_world"]
    assert {g.name: g.optim for g in project.groups} == {"TFLM core": "-Os", "TFLM kernels": "-O2",
                                                         "hello_world": "-Os"}
    assert 'CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="ARMCM4.h"' in project.defines
    assert not any(m.startswith(("-mcpu", "-mfpu", "-std")) for m in project.misc)  # the device's and uVision's
    on_disk = {p for p in copy.rglob("*") if p.suffix in (".c", ".cc", ".cpp")
               and not p.relative_to(copy).as_posix().startswith(GCC_STARTUP)}
    assert _listed(project) == on_disk  # every source of the folder, and only those, is in the project

    gcc = copy / "cortex_m_qemu"
    elf = build_from_uvprojx(xml, [gcc / "startup.c"], gcc / "mps2-an386.ld", tmp_path / "obj")
    argv, _ = TargetRegistry(REPO / "targets").load("cortex_m_qemu", ARCH).runner_argv()
    out = _run([a.replace("{program}", str(elf)) for a in argv], copy, timeout=120)
    assert "-M" in argv and "mps2-an386" in argv
    assert PASS in out and "float model: 23 bytes" in out

    # The check has teeth: without a listed source, or an include path, the build fails.
    text = xml.read_text()
    for broken in (re.sub(r"\s*<File>\s*<FileName>hello_world_float_model_data\.cc</FileName>.*?</File>", "", text,
                          count=1, flags=re.S),
                   text.replace(r";.\third_party\flatbuffers\include", "")):
        assert broken != text
        xml.write_text(broken)
        with pytest.raises(AssertionError, match="failed in"):
            build_from_uvprojx(xml, [gcc / "startup.c"], gcc / "mps2-an386.ld", tmp_path / "broken")


def test_keil_device_of_every_arch_compiles_as_the_target_does() -> None:
    """device.jinja, read as the test reads a .uvprojx, gives the -mcpu and float ABI of targets/*.yaml."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(REPO / "project_templates" / "keil")),
                             undefined=jinja2.StrictUndefined)
    registry = TargetRegistry(REPO / "targets")
    generic = registry.load("cortex_m_generic", None)
    for arch in generic.allowed_arches:
        dev: Any = env.get_template("device.jinja").make_module({"arch": arch})  # its top-level {% set %}s
        device = Device(dev.core, dev.fpu, bool(dev.dsp), dev.mve, dev.float_abi.removeprefix("-mfloat-abi="))
        target = registry.load("cortex_m_generic", arch)
        expected = (target.vars["GCC_CPU"], target.vars["FLOAT"])
        got = device.gcc()
        if expected[1] == "soft":  # no FP instruction either way: +nofp changes nothing
            expected, got = (expected[0].replace("+nofp", ""), "soft"), (got[0].replace("+nofp", ""), got[1])
        assert got == expected, arch
        assert dev.device == {"cortex-m0plus": "ARMCM0P"}.get(arch, target.vars["ARM_CPU"]), arch
        assert dev.folder == target.vars["ARM_CPU"], arch


def test_keil_project_for_cortex_m_generic_lists_every_source(fx: Fixture, tmp_path: Path) -> None:
    _generate(fx, "TARGET=cortex_m_generic", "TARGET_ARCH=cortex-m55", "OPTIMIZED_KERNEL_DIR=cmsis_nn",
              "generate_hello_world_keil_project", env=_dfp(tmp_path, "ARMCM55"))
    prj = fx.gendir("cortex_m_generic_cortex-m55_default_cmsis_nn_gcc") / "prj" / "hello_world" / "keil"
    assert_self_contained(prj, fx.gen, tmp_path)
    project = read_uvprojx(prj / "hello_world.uvprojx")
    assert project.device == Device("Cortex-M55", 3, True, 2)
    assert {p for p in prj.rglob("*") if p.suffix in (".c", ".cc", ".cpp")} == _listed(project)
    kernels = {g.name: g for g in project.groups}
    assert prj / "tensorflow/lite/micro/kernels/cmsis_nn/add.cc" in {p for p, _ in kernels["TFLM kernels"].files}
    assert (prj / "third_party/cmsis_nn/Source/FixtureFunctions/arm_fixture_add_s8.c", 1) \
        in kernels["third-party kernels"].files
    assert "CMSIS_NN" in project.defines
    readme = (prj / "README.md").read_text()
    assert "RegisterDebugLogCallback" in readme and "ARMCM55" in readme
