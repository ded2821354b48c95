"""Small helpers shared by the tests: read notebooks, run their code in-process, query a gradebook."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat

from grader.project import COURSE, REPO, SOLUTIONS
from grader.samples.submissions import solution_source


def all_notebooks() -> list[Path]:
    return sorted([*SOLUTIONS.glob("*/*.ipynb"), *COURSE.glob("*/*.ipynb")])


def nbgrader_meta(cell: Any) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_namespace(notebook: Path, replace: dict[str, str] | None = None) -> dict[str, Any]:
    """Execute a solution notebook's read-only setup cells and answer cells in-process; return the namespace.

    Test cells and cells tagged ``experiment`` are skipped, so this is fast and needs no kernel.
    """
    replace = replace or {}
    nb = nbformat.read(str(notebook), as_version=4)
    namespace: dict[str, Any] = {"__name__": "solution_under_test"}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or meta.get("grade") or "experiment" in cell.metadata.get("tags", []):
            continue
        if meta.get("solution"):
            source = replace.get(meta["grade_id"], solution_source(cell))
        elif meta.get("locked"):
            source = cell.source
        else:
            continue
        exec(compile(source, f"<{notebook.stem}:{meta['grade_id']}>", "exec"), namespace)
    return namespace


def rows_of(db_url: str, students: set[str]) -> dict[tuple[str, str, str, str], tuple]:
    """(student, assignment, notebook, grade id) -> (auto score, max score, needs manual grade), for ``students``."""
    from grader.commands.export import grade_rows

    return {key: row for key, row in grade_rows(db_url).items() if key[0] in students}


def cell_grades(db_url: str, student: str, assignment: str, notebook: str) -> dict[str, tuple[float | None, float]]:
    """grade_id -> (score, max_score) for one submitted notebook, from the gradebook; None = awaits a person."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        sub = gb.find_submission_notebook(notebook, assignment, student)
        return {g.name: (None if g.needs_manual_grade else g.score, g.max_score) for g in sub.grades}


# What a copy of the repository needs to grade from: the grading code, the course, and the files beside them.
REPO_FILES = ("grader", "solutions", "course", "nbgrader_config.py", "requirements.txt", "pyproject.toml", "README.md")


def copy_repo(dest: Path, names: tuple[str, ...] = REPO_FILES) -> Path:
    """A copy of the repository's ``names`` in ``dest`` (caches left out), to run commands from or edit."""
    dest.mkdir(parents=True)
    for name in names:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        elif source.is_file():
            shutil.copy2(source, dest / name)
    return dest


def cell_source(notebook: Path, grade_id: str) -> str:
    """The source of one test cell of a solution notebook (hidden region included)."""
    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and nbgrader_meta(cell).get("grade_id") == grade_id:
            return cell.source
    raise KeyError(f"{notebook.name} has no test cell {grade_id!r}")


def run_cell(source: str, namespace: dict[str, Any], name: str) -> Any:
    """Execute a cell's source in ``namespace`` as a kernel would; return the value of its last line if that is an
    expression (what nbgrader reads as a hidden test's partial credit), else None."""
    import ast

    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, f"<{name}>", "exec"), namespace)
    if last is None:
        return None
    return eval(compile(ast.Expression(last.value), f"<{name}>", "eval"), namespace)


def run_grader(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python -m grader ARGS`` as an instructor runs it, in a subprocess, with this environment's tools on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)



# nbgrader's own command-line app, started after ``import grader`` only to leave jsonschema's IRI parser out (2 s of
# every process that imports nbformat; tests/test_lean_imports.py proves that validation is the same without it).
NBGRADER = "import grader, sys; from nbgrader.apps.nbgraderapp import main; sys.argv[0] = 'nbgrader'; main()"


def run_nbgrader(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in ``cwd`` (whose nbgrader_config.py it reads, with the course root's), as a user runs it:
    this environment's tools first on PATH, in ``env`` (default: this process's environment)."""
    base = dict(os.environ if env is None else env)
    base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '/usr/bin:/bin')}"
    return subprocess.run([sys.executable, "-c", NBGRADER, *args], cwd=cwd, env=base, capture_output=True,
                          text=True, timeout=300)


def reachable_by_anyone(paths: list[Path]) -> str:
    """Shell commands, for a private mount namespace (``unshare --mount --propagation private``), that let any user
    reach each of ``paths`` where it lives in a folder only root may enter (pyenv's Python under /root, as on this
    project's CI machines; a checkout there): an empty, world-readable tmpfs over that folder with only the child on
    the way to each path bound back in. Nothing else of it is shown; nothing outside the namespace changes. Each call
    makes fresh temporary folders (the commands remove them): use its text once."""
    import tempfile

    kept: dict[Path, set[Path]] = {}
    for path in paths:
        real = Path(path).resolve()
        closed = next((p for p in reversed(real.parents) if p != Path("/") and not p.stat().st_mode & 0o001), None)
        if closed is not None:
            kept.setdefault(closed, set()).add(next(p for p in (real, *real.parents) if p.parent == closed))
    commands = []
    for closed, children in kept.items():
        views = {child: tempfile.mkdtemp(prefix="grader-view-") for child in sorted(children)}
        commands += [f"mount --bind {shlex.quote(str(c))} {v}" for c, v in views.items()]
        commands.append(f"mount -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(closed))}")
        for child, view in views.items():
            commands += [f"mkdir -p {shlex.quote(str(child))}", f"mount --bind {view} {shlex.quote(str(child))}",
                         f"umount {view}", f"rmdir {view}"]
    return " && ".join(commands)
