"""The folders of grader/ are the system's boundaries, and these tests hold them (each rule is also tested on code
that breaks it, so a rule that can no longer fail is noticed):

* ``grader/sandboxed/`` runs inside the sandbox: it imports nothing of ``grader`` but itself;
* ``grader/content/`` (checks, properties, references, hidden tests) imports nothing of ``grader`` but itself;
* only ``grader/compat/`` touches private names of nbgrader, nbconvert, nbclient, jupyter_client, ipykernel or
  SQLAlchemy (imports them, reads them, calls or overrides them).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

GRADER = Path(__file__).resolve().parent.parent / "grader"
LIBRARIES = ("nbgrader", "nbconvert", "nbclient", "jupyter_client", "ipykernel", "sqlalchemy")
TOP_LEVEL = {"__init__.py", "__main__.py", "cli.py", "project.py", "cells.py",
             "commands", "grading", "compat", "integrity", "sandboxed", "content", "samples"}


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(tree: ast.AST) -> list[str]:
    """Every module name ``tree`` imports, at any depth (imports inside functions count)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names if node.module == "grader"]
    return names


def grader_imports_outside(source: str, allowed: str) -> list[str]:
    """The ``grader`` modules ``source`` imports that are not ``allowed`` (a package name) or below it."""
    return [name for name in _imports(ast.parse(source))
            if (name == "grader" or name.startswith("grader.")) and not (name == allowed
                                                                         or name.startswith(allowed + "."))]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    """Where ``source`` touches a private name of one of LIBRARIES, as "line: what"."""
    tree = ast.parse(source)
    bound: set[str] = set()       # names bound to a library or something imported from one
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    bound.add((alias.asname or alias.name).split(".")[0])
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
            if any(_private(part) for part in node.module.split(".")):
                found.append(f"{node.lineno}: from {node.module}")
            for alias in node.names:
                bound.add(alias.asname or alias.name)
                if _private(alias.name):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")

    def rooted_in_library(expr: ast.expr) -> bool:
        while isinstance(expr, ast.Attribute):
            expr = expr.value
        return isinstance(expr, ast.Name) and expr.id in bound

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and rooted_in_library(node.value):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.ClassDef) and any(rooted_in_library(base) for base in node.bases):
            own = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
            own |= {t.id for stmt in node.body if isinstance(stmt, ast.Assign | ast.AnnAssign)
                    for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                    if isinstance(t, ast.Name)}
            for item in ast.walk(node):
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _private(item.name):
                    found.append(f"{item.lineno}: {node.name} overrides {item.name}")
                    own.add(item.name)
            for item in ast.walk(node):
                if (isinstance(item, ast.Attribute) and _private(item.attr) and isinstance(item.ctx, ast.Load)
                        and isinstance(item.value, ast.Name | ast.Call) and item.attr not in own
                        and (isinstance(item.value, ast.Call) or item.value.id == "self")):
                    found.append(f"{item.lineno}: {node.name} uses {ast.unparse(item)}")
    return found


# ---------------------------------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("folder", ["sandboxed", "content"])
def test_sandboxed_and_content_import_nothing_else_of_grader(folder: str) -> None:
    broken = {str(p.relative_to(GRADER.parent)): bad for p in _modules(GRADER / folder)
              if (bad := grader_imports_outside(p.read_text(encoding="utf-8"), f"grader.{folder}"))}
    assert not broken, f"grader/{folder}/ must import nothing of grader outside itself: {broken}"


def test_only_compat_touches_private_names_of_the_libraries_it_adapts() -> None:
    broken = {str(p.relative_to(GRADER.parent)): uses for p in _modules(GRADER)
              if "compat" not in p.relative_to(GRADER).parts
              and (uses := private_uses(p.read_text(encoding="utf-8")))}
    assert not broken, ("private names of nbgrader/nbconvert/nbclient/jupyter_client/ipykernel/SQLAlchemy are used "
                        "outside grader/compat/ (move the code there, with a test against the stock behaviour): "
                        f"{broken}")


def test_compat_is_where_the_private_uses_are() -> None:
    """The rule above is not vacuous: compat/ really does what no other folder may."""
    uses = {p.name: private_uses(p.read_text(encoding="utf-8")) for p in _modules(GRADER / "compat")}
    assert uses["execute.py"] and uses["kernels.py"] and uses["feedback.py"], uses


def test_the_top_level_of_grader_shows_the_system() -> None:
    present = {p.name for p in GRADER.iterdir() if p.name != "__pycache__"}
    assert present == TOP_LEVEL, f"grader/ holds {sorted(present - TOP_LEVEL)} beyond, or lacks " \
                                 f"{sorted(TOP_LEVEL - present)}: put each module in the folder of its concern"


# ---------------------------------------------------------------------------------------- the rules can fail


@pytest.mark.parametrize("source", [
    "from grader.project import REPO",
    "def f():\n    import grader.grading.sandbox",
    "from grader import project",
])
def test_the_import_rule_catches(source: str) -> None:
    assert grader_imports_outside(source, "grader.content")


def test_the_import_rule_allows_the_folder_itself() -> None:
    assert not grader_imports_outside("from grader.content.checks import expect\nimport numpy", "grader.content")


@pytest.mark.parametrize("source", [
    "from nbgrader.preprocessors import _private_helper",
    "import jupyter_client._version",
    "import nbclient\nnbclient.client._something()",
    "from nbconvert.exporters import HTMLExporter\nclass E(HTMLExporter):\n    def _init_resources(self, r):\n"
    "        return r",
    "from nbclient import NotebookClient\nclass C(NotebookClient):\n    def run(self):\n"
    "        return self._async_poll_output_msg()",
    "from nbclient import NotebookClient\nclass C(NotebookClient):\n    def run(self):\n"
    "        return super()._async_handle_timeout()",
    "import sqlalchemy as sa\nsa.orm._private",
])
def test_the_private_name_rule_catches(source: str) -> None:
    assert private_uses(source), source


@pytest.mark.parametrize("source", [
    "import os\nos._exit(0)",
    "from nbconvert.exporters import HTMLExporter\nclass E(HTMLExporter):\n    def run(self):\n"
    "        self._mine = 1\n        return self._mine",
    "class Pool:\n    def run(self):\n        return self._workers",
    "from nbgrader.preprocessors import Execute\nclass X(Execute):\n    def __init__(self):\n"
    "        super().__init__()",
])
def test_the_private_name_rule_allows(source: str) -> None:
    assert not private_uses(source), private_uses(source)


# ------------------------------------------------------------------------------------------ names that exist

_FILE_NAME = re.compile(r"\bgrader/[\w/]*\w+\.py\b|\bgrader/\w+(?:/\w+)*/(?=[\s`)'\",:])")
_MODULE_NAME = re.compile(r"\bgrader(?:\.[a-z_]\w*)+")
# Names a test creates in a copy of the repository (tests/test_fingerprint.py, tests/test_new_exercise.py).
CREATED_BY_TESTS = {"grader/content/hidden/extra.py", "grader/content/hidden/retrieval.py",   # test_new_exercise's
                    "grader/content/reference/retrieval.py", "grader/samples/mutants/retrieval.py",
                    "grader.content.hidden.retrieval"}


def _named_in(text: str) -> tuple[set[str], set[str]]:
    return set(_FILE_NAME.findall(text)), set(_MODULE_NAME.findall(text))


def _resolves(dotted: str) -> bool:
    """``grader.a.b.c`` names a module, or an attribute of one (a class, a function, a constant)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        target: object = module
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def test_every_file_and_module_the_docs_and_docstrings_name_exists() -> None:
    """Docstrings, comments, messages and the README name files and modules that exist (a rename leaves none
    behind)."""
    sources = [*_modules(GRADER), *sorted((GRADER.parent / "tests").glob("*.py")), GRADER.parent / "README.md",
               GRADER.parent / "nbgrader_config.py", GRADER.parent / "pyproject.toml", GRADER.parent / "Makefile"]
    missing: dict[str, list[str]] = {}
    for path in sources:
        if path.name == "test_layout.py":
            continue   # its own examples name modules that do not exist, on purpose
        files, modules = _named_in(path.read_text(encoding="utf-8"))
        gone = sorted(f for f in files - CREATED_BY_TESTS if not (GRADER.parent / f).exists())
        gone += sorted(m for m in modules - CREATED_BY_TESTS if not _resolves(m.rstrip(".")))
        if gone:
            missing[str(path.relative_to(GRADER.parent))] = gone
    assert not missing, f"names of files or modules that do not exist: {missing}"


def test_the_name_check_catches_a_stale_name() -> None:
    files, _ = _named_in("see grader/warm.py and :mod:`grader.recheck_server`, grader.project.REPO")
    assert "grader/warm.py" in files and not (GRADER.parent / "grader/warm.py").exists()
    assert not _resolves("grader.recheck_server") and _resolves("grader.project.REPO")


ENVIRONMENT_WRITERS = {("compat/kernels.py", "worker_environment"), ("project.py", "ensure_tools_on_path")}


def environment_writes(source: str) -> list[tuple[str, int]]:
    """(enclosing function, line) of every change to ``os.environ`` in ``source``."""
    tree = ast.parse(source)
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module):
            continue
        for node in ast.walk(function):
            target = None
            if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
                targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
                target = next((t for t in targets if isinstance(t, ast.Subscript)
                               and ast.unparse(t.value) == "os.environ"), None)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                    (ast.unparse(node.func.value) == "os.environ" and node.func.attr in (
                        "update", "setdefault", "pop", "clear", "__setitem__"))
                    or ast.unparse(node.func) in ("os.putenv", "os.unsetenv")):
                target = node
            if target is not None:
                found.append((getattr(function, "name", "<module>"), target.lineno))
    innermost: dict[int, str] = {}
    for name, line in found:   # ast.walk visits the module first, then each function: keep the innermost
        innermost[line] = name if name != "<module>" or line not in innermost else innermost[line]
    return sorted((name, line) for line, name in innermost.items())


def test_the_environment_is_changed_in_one_place_each_for_jupyter_and_tools() -> None:
    """Settings travel as one object (grader.grading.executor.Settings) from the command line to the workers; the
    environment is not a second channel. The two writers left exist because what they configure reads only the
    environment: jupyter_client's runtime folder and kernel path, and nbgrader's call of ``alembic`` through PATH."""
    writes = {(str(p.relative_to(GRADER)), name) for p in _modules(GRADER) if "sandboxed" not in p.parts
              for name, _ in environment_writes(p.read_text(encoding="utf-8"))}
    assert writes == ENVIRONMENT_WRITERS, f"os.environ is changed in {sorted(writes - ENVIRONMENT_WRITERS)}"


def test_the_environment_rule_catches() -> None:
    assert environment_writes("import os\ndef f():\n    os.environ['X'] = '1'\n") == [("f", 3)]
    assert environment_writes("import os\nos.environ.update(X='1')\n") == [("<module>", 2)]
