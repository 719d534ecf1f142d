"""The wheel carries the data folders and the SConstruct as package data (tflm_build/data/).

A checkout keeps them at its root (resources.py finds either); this copies them into
the built package, so an installed tflm-build needs no checkout.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
FOLDERS = ("targets", "examples", "sources", "third_party", "project_templates")
SKIP = shutil.ignore_patterns("downloads", "__pycache__", "*.pyc")


class BuildWithData(build_py):
    """build_py, then the data folders and the SConstruct into tflm_build/data/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # pip install -e: the checkout's own folders are used
            return
        data = Path(self.build_lib) / "tflm_build" / "data"
        if data.exists():
            shutil.rmtree(data)
        for folder in FOLDERS:
            shutil.copytree(ROOT / folder, data / folder, ignore=SKIP)
        shutil.copy2(ROOT / "SConstruct", data / "SConstruct")


setup(cmdclass={"build_py": BuildWithData})
