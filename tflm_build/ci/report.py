"""The reports of a ci run: JUnit XML (a testcase per cell and per unit test), Markdown (for
$GITHUB_STEP_SUMMARY) and a JSON summary."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from .matrix import REFERENCE, CellResult


def junit(results: Sequence[CellResult], name: str = "tflm-build ci") -> ET.ElementTree:
    """A testsuite per cell holding the cell's testcase and one per unit test."""
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    seconds = 0.0
    for res in results:
        suite = ET.SubElement(root, "testsuite", name=res.cell.id)
        cases = [(res.cell.id, "tflm-build.ci", res.seconds, res.status, res.message,
                  Path(res.log).read_text(errors="replace")[-20000:] if res.log and Path(res.log).exists() else "")]
        cases += [(t.name, res.cell.id, t.seconds, "passed" if t.passed else "failed", t.message, t.output)
                  for t in res.tests]
        failures = 0
        for case_name, classname, time_s, status, message, output in cases:
            case = ET.SubElement(suite, "testcase", name=case_name, classname=classname, time=f"{time_s:.3f}")
            if status == "failed":
                failures += 1
                ET.SubElement(case, "failure", message=message or "failed").text = output
            elif status == "skipped":
                ET.SubElement(case, "skipped")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("time", f"{res.seconds:.3f}")
        totals["tests"] += len(cases)
        totals["failures"] += failures
        seconds += res.seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def markdown(results: Sequence[CellResult], shard_text: str) -> str:
    passed = sum(1 for r in results if r.status == "passed")
    tests = [t for r in results for t in r.tests]
    head = "✅" if passed == len(results) else "❌"
    lines = [f"## {head} tflm-build ci (shard {shard_text}): {passed} of {len(results)} cells passed, "
             f"{sum(t.passed for t in tests)} of {len(tests)} unit tests passed", "",
             "| result | cell | target | arch | example | build type | kernels | actions | time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.cell
        mark = "✅ pass" if r.status == "passed" else "❌ fail"
        lines.append(f"| {mark} | `{c.id}` | {c.target} | {c.arch} | {c.example} | {c.build_type} | "
                     f"{c.kernel_dir or REFERENCE} | {', '.join(c.actions)} | {r.seconds:.1f} s |")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines += ["", "### Failures", ""]
        for r in failed:
            message = r.message.replace("`", "'")
            lines.append(f"- `{r.cell.id}`: **{r.failed_action}** failed: `{message}`")
            for t in r.tests:
                if not t.passed:
                    lines.append(f"  - `{t.name}`: {t.message}")
            lines.append(f"  - log: `{r.log}`")
    return "\n".join(lines) + "\n"


def summary_json(results: Sequence[CellResult], shard_text: str) -> dict[str, Any]:
    return {
        "shard": shard_text,
        "passed": all(r.status == "passed" for r in results),
        "cells": [{**asdict(r.cell), "id": r.cell.id, "status": r.status, "seconds": round(r.seconds, 3),
                   "failed_action": r.failed_action, "message": r.message, "log": r.log,
                   "tests": [asdict(t) | {"output": None} for t in r.tests]} for r in results],
    }


def write_reports(results: Sequence[CellResult], out: Path, shard_text: str) -> dict[str, Path]:
    paths = {"junit": out / "junit.xml", "markdown": out / "summary.md", "json": out / "summary.json"}
    junit(results).write(paths["junit"], encoding="utf-8", xml_declaration=True)
    paths["markdown"].write_text(markdown(results, shard_text))
    paths["json"].write_text(json.dumps(summary_json(results, shard_text), indent=1) + "\n")
    return paths
