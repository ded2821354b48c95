"""grader.compat refuses to run its overrides on library versions they were not checked against.

Each module of ``grader/compat/`` overrides internals of the libraries it imports and calls ``require_versions`` for
them; the versions it accepts are the lock's (``requirements.txt``) and within the project's ranges
(``pyproject.toml``). On any other version the import fails with a message naming the module, the version found and
what to re-check, unless ``GRADER_UNCHECKED_VERSIONS=1`` asks for a warning instead (to run the re-check's tests).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from grader.compat import ALLOW_ENV, CHECKED_AGAINST, UncheckedVersionError, require_versions
from grader.project import REPO

COMPAT = REPO / "grader" / "compat"
MODULES = sorted(p.stem for p in COMPAT.glob("*.py") if p.stem != "__init__")
ADAPTED = {canonicalize_name(name) for name in CHECKED_AGAINST}


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if (match := re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)):
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _guard(module: str) -> tuple[ast.Call | None, set[str]]:
    """The module's require_versions(...) call at its top level, and the adapted libraries it imports."""
    tree = ast.parse((COMPAT / f"{module}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        imported |= {canonicalize_name(n.split(".")[0]) for n in names} & ADAPTED
    calls = [n.value for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
             and getattr(n.value.func, "id", None) == "require_versions"]
    return (calls[0] if calls else None), imported


def test_the_checked_versions_are_the_lock_and_in_the_projects_ranges() -> None:
    lock = _lock()
    declared = {canonicalize_name(Requirement(d).name): Requirement(d).specifier
                for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    for name, version in CHECKED_AGAINST.items():
        key = canonicalize_name(name)
        assert lock.get(key) == version, (f"requirements.txt pins {name} {lock.get(key)}; "
                                          f"compat was checked on {version}")
        assert key in declared, f"pyproject.toml does not declare {name}, which grader/compat/ depends on"
        assert declared[key].contains(version), f"pyproject.toml's {name}{declared[key]} excludes the lock's {version}"


@pytest.mark.parametrize("module", MODULES)
def test_every_compat_module_guards_the_libraries_it_adapts(module: str) -> None:
    call, imported = _guard(module)
    assert call is not None, f"grader/compat/{module}.py does not call require_versions(...) at import"
    guarded = {canonicalize_name(ast.literal_eval(e)) for e in call.args[2].elts}
    assert imported <= guarded, f"grader/compat/{module}.py imports {sorted(imported - guarded)} without a guard"


def test_the_rule_is_not_vacuous() -> None:
    assert {m: _guard(m)[1] for m in MODULES}["execute"] >= {"nbgrader", "nbclient"}


def test_another_version_is_refused_with_what_to_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.setitem(CHECKED_AGAINST, "nbgrader", "0.9.5")
    with pytest.raises(UncheckedVersionError) as raised:
        require_versions("grader.compat.<example>", "run tests/test_example.py", ("nbgrader", "sqlalchemy"))
    message = str(raised.value)
    assert "grader.compat.<example>" in message and "nbgrader 0.9.6 (checked against 0.9.5)" in message
    assert "run tests/test_example.py" in message and "sqlalchemy" not in message.split("environment has")[1]
    require_versions("grader.compat.<example>", "-", ("sqlalchemy",))   # the versions checked: nothing happens


def test_a_missing_library_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.setitem(CHECKED_AGAINST, "no-such-distribution", "1.0")
    with pytest.raises(UncheckedVersionError, match="no-such-distribution not installed"):
        require_versions("grader.compat.<example>", "-", ("no-such-distribution",))


def _import_with(modules: list[str], checked: str, allow: bool) -> subprocess.CompletedProcess[str]:
    """Import each grader.compat module in one fresh interpreter that believes compat was checked on ``checked``
    versions; print one line per module: its name, then "imported" or the error's type and message."""
    code = (f"import grader.compat as c\nc.CHECKED_AGAINST.update(dict.fromkeys(c.CHECKED_AGAINST, {checked!r}))\n"
            f"import importlib\nfor m in {modules!r}:\n"
            "    try:\n        importlib.import_module('grader.compat.' + m)\n        print(m, 'imported')\n"
            "    except Exception as e:\n        print(m, type(e).__name__, str(e).replace('\\n', ' '))\n")
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV} | ({ALLOW_ENV: "1"} if allow else {})
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_each_module_refuses_to_import_on_another_version() -> None:
    done = _import_with(MODULES, "0.0.1", allow=False)
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert sorted(lines) == MODULES, done.stderr[-2000:]
    for module, line in lines.items():
        assert line.startswith(f"UncheckedVersionError grader.compat.{module} overrides internals of"), line
        assert "(checked against 0.0.1)" in line and "run tests/" in line, line


def test_the_refusal_can_be_lifted_for_a_recheck() -> None:
    done = _import_with(["speedups"], "0.0.1", allow=True)
    assert done.stdout.split() == ["speedups", "imported"], done.stderr[-2000:]
    assert "UncheckedVersionWarning" in done.stderr
