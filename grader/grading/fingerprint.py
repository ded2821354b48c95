"""What a grade depends on besides the submission, as a manifest of files and versions, and its fingerprint.

A grade is decided by the grading code (all of ``grader/``), the course (``solutions/``, ``course/``,
``nbgrader_config.py``), the lock and the project file, the Python that runs them and the versions of the packages
that execute and score notebooks. :func:`manifest` lists every one of them with a hash of its content, found by
walking the folders (no hand-kept list of files to forget); :func:`fingerprint` is the hash of that manifest.

The incremental re-grade keeps a submission only when its fingerprint is unchanged, and a worker that grades with
another manifest than the coordinator's is refused, with :func:`differences` saying which files differ.
"""

from __future__ import annotations

import functools
import hashlib
import platform
from collections.abc import Mapping
from pathlib import Path

from grader.project import REPO

FOLDERS = ("grader", "solutions", "course")
FILES = ("nbgrader_config.py", "requirements.txt", "pyproject.toml")
PACKAGES = ("nbgrader", "torch", "numpy", "matplotlib", "ipykernel", "ipython", "jupyter_client", "nbclient",
            "nbconvert", "nbformat", "traitlets", "sqlalchemy")
SKIPPED = ("__pycache__", ".ipynb_checkpoints")

# "grader/content/hidden/lookup.py" -> sha256 of its bytes; "python", "package torch" -> version
Manifest = dict[str, str]


def _counts(path: Path, repo: Path) -> bool:
    """Whether a file is part of what a grade depends on. In ``solutions/`` and ``course/`` every file nbgrader copies
    into a release counts, dot-files included (nbgrader skips only checkpoints, caches and ``*.pyc``); in ``grader/``
    dot-folders are tools' caches (.mypy_cache, .ruff_cache) and do not count."""
    parts = path.relative_to(repo).parts
    if path.suffix == ".pyc" or any(part in SKIPPED or part == ".git" for part in parts):
        return False
    return parts[0] != "grader" or not any(part.startswith(".") for part in parts)


def _files(repo: Path) -> list[Path]:
    found = [repo / name for name in FILES if (repo / name).is_file()]
    for folder in FOLDERS:
        found += [path for path in (repo / folder).rglob("*") if path.is_file() and _counts(path, repo)]
    return sorted(found)


def manifest(repo: Path = REPO) -> Manifest:
    """Every file and version a grade depends on, with the hash of its content (a few milliseconds)."""
    entries = {path.relative_to(repo).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
               for path in _files(repo)}
    return {**entries, **_versions()}


@functools.cache
def _versions() -> Manifest:
    """The interpreter's and the packages' versions (read once per process: ~40 ms of package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": f"{platform.python_implementation()} {platform.python_version()}"}
    for package in PACKAGES:
        try:
            found[f"package {package}"] = version(package)
        except PackageNotFoundError:
            found[f"package {package}"] = "not installed"
    return found


def fingerprint(entries: Mapping[str, str] | None = None) -> str:
    """The hash of a manifest (default: this checkout's)."""
    entries = manifest() if entries is None else entries
    digest = hashlib.sha256()
    for key in sorted(entries):
        digest.update(f"{key}\0{entries[key]}\n".encode())
    return digest.hexdigest()


def differences(here: Mapping[str, str], there: Mapping[str, str], limit: int = 12) -> list[str]:
    """What differs between two manifests, one line per file or version (at most ``limit`` lines)."""
    lines = []
    for key in sorted(set(here) | set(there)):
        mine, theirs = here.get(key), there.get(key)
        if mine == theirs:
            continue
        if key == "python" or key.startswith("package "):
            lines.append(f"{key}: {mine} here, {theirs} there")
        elif theirs is None:
            lines.append(f"{key}: missing there")
        elif mine is None:
            lines.append(f"{key}: only there")
        else:
            lines.append(f"{key}: different content")
    return lines[:limit] + ([f"… and {len(lines) - limit} more"] if len(lines) > limit else [])
