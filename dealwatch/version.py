"""What `dealwatch --version` prints: the distribution's version and, when known, its commit.

A wheel built from a checkout carries its commit in `COMMIT` (setup.py writes it); an editable
install asks git about the checkout it runs from."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
STAMP = PACKAGE_DIR / "COMMIT"


def version() -> str:
    try:
        return metadata.version("dealwatch")
    except metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown"


def commit() -> str | None:
    """The commit this code was built from, `+dirty` when a checkout has uncommitted changes."""
    if STAMP.is_file():
        return STAMP.read_text(encoding="utf-8").strip() or None
    return checkout_commit(PACKAGE_DIR.parent)


def checkout_commit(root: Path) -> str | None:
    """HEAD of the git checkout whose top is `root`, or None (no git, or not a checkout)."""
    if not (root / ".git").exists():
        return None
    try:
        head = _git(root, "rev-parse", "--short=12", "HEAD")
        changed = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if changed else head


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def describe() -> str:
    known = commit()
    return f"dealwatch {version()}" + (f" (commit {known})" if known else "")
