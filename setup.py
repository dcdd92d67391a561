"""Packaging that pyproject.toml cannot say: one import package, `dealwatch`, made of folders at
the top of the repository, and the commit stamped into a wheel built from a checkout.

The folders keep the layout the design asks for (events/, projections/, sources/, services/,
alerts/); each installs as `dealwatch.<folder>`, so nothing but `dealwatch` lands at the top of
site-packages. Every package below a folder is found here, so a new one needs no entry."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
PARTS = ("events", "projections", "sources", "services", "alerts")
STAMP = "COMMIT"  # read by dealwatch/version.py
# folders of code with no __init__.py, which Alembic loads by path: installed all the same
PATH_LOADED = ("services.migrations", "services.migrations.versions")


def _packages() -> list[str]:
    found = ["dealwatch"]
    for part in PARTS:
        found += [f"dealwatch.{part}"] + [f"dealwatch.{part}.{sub}" for sub in find_packages(part)]
    return found + [f"dealwatch.{folder}" for folder in PATH_LOADED]


def _commit() -> str | None:
    import sys

    sys.path.insert(0, str(ROOT / "dealwatch"))
    try:
        from version import checkout_commit  # dealwatch/version.py, not yet installed
    finally:
        sys.path.pop(0)
    return checkout_commit(ROOT)


class StampedBuild(build_py):
    """Writes the checkout's commit into the built package (not into an editable one)."""

    def run(self) -> None:
        super().run()
        commit = None if getattr(self, "editable_mode", False) else _commit()
        if commit:
            Path(self.build_lib, "dealwatch", STAMP).write_text(commit + "\n", encoding="utf-8")


class StampedSdist(sdist):
    """Carries the commit inside the sdist, where a wheel built from it finds no git."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        commit = _commit()
        if commit:
            Path(base_dir, "dealwatch", STAMP).write_text(commit + "\n", encoding="utf-8")


setup(
    packages=_packages(),
    package_dir={"dealwatch": "dealwatch", **{f"dealwatch.{part}": part for part in PARTS}},
    package_data={
        "dealwatch": [STAMP],
        "dealwatch.alerts": ["*.yaml"],
        "dealwatch.services.sources": ["*.yaml"],
        "dealwatch.services.slack": ["*.yaml"],
        "dealwatch.services.kafka": ["*.xml", "*.properties", "*.yaml"],
        "dealwatch.services": [
            "seed/*.jsonl",
            "seed/*.csv",
            "seed/*.json",
        ],
        "dealwatch.services.migrations": ["*.mako"],
    },
    cmdclass={"build_py": StampedBuild, "sdist": StampedSdist},
)
