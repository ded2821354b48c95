"""``grader new-exercise``: scaffold one exercise everywhere it lives, with its points written once.

``python -m grader new-exercise 09_retrieval near_rows --points 3 --params "query, E, k"`` writes:

* in ``solutions/09_retrieval/09_retrieval.ipynb`` (created with a title, objectives, the standard imports,
  an experiment and a summary if it does not exist): a Markdown cell stating the exercise, the answer cell
  (``### BEGIN SOLUTION`` around a ``raise NotImplementedError``), the visible test cell ``near_rows_visible`` and
  the hidden test cell ``near_rows_hidden`` in the one form :func:`grader.integrity.recheck.hidden_tests` reads,
  inserted after the notebook's last graded cell (before its experiment and summary);
* ``grader/content/reference/<module>.py``: ``def near_rows(query, E, k)`` raising NotImplementedError;
* ``grader/content/hidden/<module>.py``: ``grade_near_rows(near_rows, points)`` that fails closed (0 points for
  any answer) until its properties are written;
* ``grader/samples/mutants/<module>.py``: a place in ``MUTANTS`` for the wrong answers, with a template
  (:func:`grader.samples.mutants.all_mutants` finds a new module by itself).

Points: the hidden points are typed once, on the command line. nbgrader reads a cell's worth from its metadata and
the kernel can only read the number written in the call, so the hidden cell holds both; the re-check refuses a
cell whose two disagree (:class:`grader.integrity.recheck.HiddenTestUnreadable`), and ``grade_<name>`` has no default
of its own. Everything is checked before anything is written: a refusal leaves the repository as it was.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.project import REPO, SOLUTIONS, GraderError

CONTENT = REPO / "grader" / "content"
MUTANTS = REPO / "grader" / "samples" / "mutants"
NOTEBOOK = re.compile(r"^(?P<number>\d{2})(?:_(?P<topic>[a-z][a-z0-9_]*))?$")
HIDDEN_NEEDS = ("Callable", "Any", "Property", "score")   # what the hidden stub uses; every hidden module imports them


@dataclass(frozen=True)
class Plan:
    """Everything one ``new-exercise`` writes: path -> new text (nothing is written until all of it is known)."""

    notebook: Path
    module: str
    files: dict[Path, str]
    created: tuple[Path, ...]


def _points(value: float, what: str) -> float:
    if not value > 0 or value != value or value > 1000:
        raise GraderError(f"{what} {value:g} is not a worth: give a number of points between 0 (excluded) and 1000.")
    return float(value)


def _literal(points: float) -> str:
    return f"{points:g}"


def check_name(name: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or not name.isascii():
        raise GraderError(f"{name!r} is not a name an exercise can have: it becomes the student's function, its "
                          "grade id and grade_<name>, so give a Python identifier that is not a keyword and does not "
                          "start with _ (for example merge_pair).")


def find_notebook(spec: str) -> tuple[str, Path, bool]:
    """(notebook name, its path, whether it exists) for ``NN_topic`` or ``NN`` (an existing notebook's number)."""
    match = NOTEBOOK.fullmatch(spec)
    if not match:
        raise GraderError(f"{spec!r} is not a notebook: give NN_topic (two digits, an underscore, lowercase letters, "
                          "digits and _, as in 07_tokenisation), or NN alone for a notebook that exists.")
    same_number = sorted(p.name for p in SOLUTIONS.glob(f"{match['number']}_*") if p.is_dir())
    if match["topic"] is None:
        if len(same_number) != 1:
            raise GraderError(f"no single notebook numbered {spec} in {SOLUTIONS} (found {same_number or 'none'}): "
                              "give its full name NN_topic to create it.")
        name = same_number[0]
    else:
        name = spec
        if same_number and same_number != [name]:
            raise GraderError(f"notebook number {match['number']} is taken by {', '.join(same_number)}: add the "
                              f"exercise to it (new-exercise {same_number[0]} …) or choose a free number.")
    path = SOLUTIONS / name / f"{name}.ipynb"
    return name, path, path.is_file()


def _top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _hidden_modules(nb: dict) -> set[str]:
    from grader.integrity.recheck import hidden_tests

    return {t.module for t in hidden_tests(nb)}


def check_unused(name: str, notebook: Path) -> None:
    """Refuse a name that is already an exercise, a grade id, a cell id, a reference, a hidden test or a mutant's
    cell anywhere in the course."""
    from grader.cells import grade_id
    from grader.samples.mutants import all_mutants

    taken = {name, f"{name}_visible", f"{name}_hidden"}
    where = []
    for path in sorted(SOLUTIONS.glob("*/*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        ids = {grade_id(c) for c in nb.cells} | {c.get("id") for c in nb.cells}
        if ids & (taken | {f"{name}-intro"}):
            where.append(f"a cell of {path.relative_to(REPO)}")
        if path == notebook:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    try:
                        defined = {n.name for n in ast.parse(cell.source).body
                                   if isinstance(n, ast.FunctionDef | ast.ClassDef)}
                    except SyntaxError:
                        continue
                    if name in defined:
                        where.append(f"a function of {path.relative_to(REPO)}")
    for folder, defined in (("reference", name), ("hidden", f"grade_{name}")):
        for path in sorted((CONTENT / folder).glob("*.py")):
            if defined in _top_level_names(path):
                where.append(f"{defined} in {path.relative_to(REPO)}")
    where += sorted({f"mutants of {m.notebook}" for m in all_mutants() if m.cell == name})
    if where:
        raise GraderError(f"{name!r} exists already ({'; '.join(dict.fromkeys(where))}): choose another name, or edit "
                          "the exercise that has it.")


def choose_module(name: str, notebook: Path, exists: bool, module: str | None) -> str:
    """The module of grader/content/{reference,hidden}/ and grader/samples/mutants/ the exercise goes in: the one the
    notebook's hidden tests import already, else ``module`` or the notebook's topic."""
    topic = notebook.stem.split("_", 1)[1]
    used = _hidden_modules(nbformat.read(str(notebook), as_version=4)) if exists else set()
    if len(used) > 1:
        raise GraderError(f"{notebook.name}'s hidden tests import {sorted(used)}: give --module, one of them.")
    if used and module and module not in used:
        raise GraderError(f"{notebook.name}'s hidden tests live in grader/content/hidden/{next(iter(used))}.py: "
                          f"drop --module {module}, or move them first.")
    chosen = module or (next(iter(used)) if used else topic)
    if not chosen.isidentifier() or keyword.iskeyword(chosen) or chosen != chosen.lower() or chosen == "common":
        raise GraderError(f"--module {chosen!r} cannot be a module of grader/content/: give a lowercase Python "
                          "identifier other than common (for example tokenisation).")
    if not used:
        for path in sorted(SOLUTIONS.glob("*/*.ipynb")):
            if path != notebook and chosen in _hidden_modules(nbformat.read(str(path), as_version=4)):
                raise GraderError(f"grader/content/hidden/{chosen}.py holds the hidden tests of {path.stem}: give "
                                  f"{notebook.stem} a module of its own with --module.")
    return chosen


def _parameters(params: str) -> str:
    try:
        tree = ast.parse(f"def f({params}):\n    pass\n")
    except SyntaxError:
        raise GraderError(f"--params {params!r} is not a parameter list: give it as in a def, e.g. \"pair, ids\".") \
            from None
    parameters = ast.unparse(tree.body[0].args)
    if '"""' in parameters or "\\" in parameters:   # they are written into the stubs' docstrings too
        raise GraderError(f"--params {params!r}: a default may not hold a backslash or \"\"\" (the stubs' docstrings "
                          "quote the parameter list); give such a default in the code afterwards.")
    return parameters


# ------------------------------------------------------------------------------------------------ the notebook

def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _cell(kind: str, cell_id: str, source: str, metadata: dict | None = None) -> nbformat.NotebookNode:
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = make(source, metadata=metadata or {})
    cell["id"] = cell_id
    return cell


def exercise_cells(name: str, params: str, module: str, points: float, visible_points: float
                   ) -> list[nbformat.NotebookNode]:
    call = f"{name}({params})"
    slide = {"slideshow": {"slide_type": "slide"}}
    return [
        _cell("markdown", f"{name}-intro", f"## TODO: the idea behind `{name}`\n\n"
              "TODO: the maths first, then the code; end with what to write.\n\n"
              f"**Exercise.** Write `{call}`: TODO what it takes (types, shapes, dtypes), what it returns and what it "
              "raises, and a hint.", slide),
        _cell("code", name, f'def {call}:\n    """TODO: what {name} computes.\n\n'
              "    TODO: each argument with its type and shape, as in `ids: int array (...,)`\n"
              '    returns: TODO\n    """\n'
              "    ### BEGIN SOLUTION\n"
              f'    raise NotImplementedError("TODO (instructor): the solution of {name}")\n'
              "    ### END SOLUTION",
              _meta(name, grade=False, solution=True, locked=False)),
        _cell("code", f"{name}_visible",
              f"# Visible checks for {name}. Run this cell: it prints ✓ or says what to fix.\n"
              f'raise NotImplementedError("TODO (instructor): the visible checks of {name}, asserts whose messages '
              'say what to fix")\n'
              f'print("✓ {name} passes the visible checks")',
              _meta(f"{name}_visible", grade=True, solution=False, locked=True, points=visible_points)),
        _cell("code", f"{name}_hidden", f"# Hidden tests for {name} run here when your notebook is graded: TODO say "
              "what they cover.\n"
              "### BEGIN HIDDEN TESTS\n"
              f"from grader.content.hidden.{module} import grade_{name}\n"
              f"grade_{name}({name}, points={_literal(points)})\n"
              "### END HIDDEN TESTS",
              _meta(f"{name}_hidden", grade=True, solution=False, locked=True, points=points)),
    ]


SETUP = '''import os

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# True while nbgrader grades or validates this notebook: the experiment at the end is skipped then.
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))
np.set_printoptions(precision=3, suppress=True)
print(f"numpy {np.__version__}, torch {torch.__version__}")'''


def new_notebook(name: str) -> nbformat.NotebookNode:
    """A notebook as the others open and close: title and objectives, the standard imports, an experiment skipped
    while grading, a summary."""
    number = name[:2]
    slide = {"slideshow": {"slide_type": "slide"}}
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = 5
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python", "version": "3.11.7"}}
    nb.cells = [
        _cell("markdown", "title", f"# {number} · TODO: the title\n\n"
              f"*Embedding Layers, from first principles* · notebook {number}\n\n"
              "TODO: what this notebook builds, from which definition.\n\n"
              "**After this notebook you will be able to**\n\n1. TODO;\n2. TODO.", slide),
        _cell("code", "setup", SETUP, _meta("setup", grade=False, solution=False, locked=True)),
        _cell("markdown", "experiment-intro", "## Experiment: TODO\n\nTODO: what is measured and what theory "
              "predicts. It is skipped while the notebook is being graded.", slide),
        _cell("code", "experiment", 'if GRADING:\n    print("Skipped while grading: run this notebook yourself to '
              'see the measurement.")\nelse:\n    pass  # TODO: the measurement', {"tags": ["experiment"]}),
        _cell("markdown", "summary", "## Summary\n\n* TODO", slide),
    ]
    return nb


def insert_exercise(nb: nbformat.NotebookNode, cells: list[nbformat.NotebookNode]) -> None:
    """After the last graded cell (the last exercise), else after the setup cell, else at the end."""
    from grader.cells import grade_id, is_graded

    graded = [i for i, c in enumerate(nb.cells) if is_graded(c)]
    setup = [i for i, c in enumerate(nb.cells) if grade_id(c) == "setup"]
    at = (graded or setup or [len(nb.cells) - 1])[-1] + 1
    nb.cells[at:at] = cells


# ------------------------------------------------------------------------------------------------ the modules

def _reference(path: Path, name: str, params: str, notebook: str) -> str:
    stub = (f'def {name}({params}):\n    """TODO: what {name} computes, from its definition (not copied from the '
            'solution notebook).\n\n    TODO: each argument with its type and shape -> what it returns.\n    """\n'
            f'    raise NotImplementedError("TODO (instructor): the reference of {name}")\n')
    if not path.exists():
        return (f'"""Reference for notebook {notebook}: TODO the definitions it is written from."""\n\n'
                f"from __future__ import annotations\n\n__all__ = [\"{name}\"]\n\n\n{stub}")
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    for node in tree.body:
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]
                and isinstance(node.value, ast.List | ast.Tuple)
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts)):
            names = sorted({e.value for e in node.value.elts} | {name})
            line = "__all__ = [" + ", ".join(f'"{n}"' for n in names) + "]"
            if len(line) > 120:
                line = "__all__ = [\n" + "".join(f'    "{n}",\n' for n in names) + "]"
            lines = text.splitlines(keepends=True)
            text = "".join([*lines[:node.lineno - 1], line + "\n", *lines[node.end_lineno:]])
            break
    return text.rstrip("\n") + "\n\n\n" + stub


def _hidden(path: Path, name: str, params: str, notebook: str) -> str:
    stub = (f"# {'-' * 98}\n# {name}\n\n\n"
            f"def grade_{name}(func: Callable[..., Any], points: float) -> float:\n"
            f'    """Hidden tests for ``{name}({params})`` (``func``): TODO the properties, each comparing\n'
            f"    ``func`` with ``ref.{name}`` of :mod:`grader.content.reference.{path.stem}` on generated inputs.\n\n"
            "    Until they are written this gives 0 points for any answer (it fails closed): ``points`` comes\n"
            '    from the hidden test cell, never a default here.\n    """\n\n'
            "    def not_written_yet() -> None:\n"
            f'        raise AssertionError("the hidden tests of {name} are not written yet "\n'
            f'                             "(grader/content/hidden/{path.stem}.py): no points until they are")\n\n'
            f'    return score("{name}", [\n'
            '        Property("TODO: a law that must hold for all inputs, on generated ones", not_written_yet),\n'
            "    ], points)\n")
    if not path.exists():
        return (f'"""Hidden tests for notebook {notebook}: TODO what they check.\n\n'
                "Each ``grade_*`` function is called by the last line of a hidden test cell, checks the student's code "
                f"against\n:mod:`grader.content.reference.{path.stem}` on fresh random inputs and edge cases, prints "
                'what held\nand returns the points.\n"""\n\n'
                "from __future__ import annotations\n\n"
                "from collections.abc import Callable\nfrom typing import Any\n\n"
                "from grader.content.properties import Property, score\n\n" + stub)
    text = path.read_text(encoding="utf-8")
    missing = [n for n in HIDDEN_NEEDS if n not in _top_level_names(path)]
    if missing:
        raise GraderError(f"{path.relative_to(REPO)} does not import {', '.join(missing)}, which the hidden test stub "
                          "uses: add the imports (as every other hidden module has them) and run this again.")
    return text.rstrip("\n") + "\n\n\n" + stub


def _mutants(path: Path, name: str, notebook: str) -> str:
    block = (f"    # {'-' * 64} {name}\n"
             f"    # TODO: at least four plausible wrong answers to {name}, each naming the test cells that must "
             "catch it:\n"
             f'    # _m("{name}_<mistake>", "{name}", "what the student did wrong, in their terms", \'\'\'\n'
             f"    # def {name}(...):\n    #     ...\n"
             f'    # \'\'\', ("{name}_visible", "{name}_hidden")),\n')
    if not path.exists():
        return (f'"""Mistakes for notebook {notebook}, at least four per exercise."""\n\n'
                "from __future__ import annotations\n\nfrom grader.samples.mutants import Mutant, maker\n\n"
                f'_m = maker("{notebook}")\n\n\nMUTANTS: list[Mutant] = [\n{block}]\n')
    text = path.read_text(encoding="utf-8")
    node = next((n for n in ast.parse(text).body if isinstance(n, ast.AnnAssign | ast.Assign)
                 and "MUTANTS" in [getattr(t, "id", None) for t in (n.targets if isinstance(n, ast.Assign)
                                                                   else [n.target])]
                 and isinstance(n.value, ast.List)), None)
    lines = text.splitlines(keepends=True)
    if node is None or node.end_lineno is None or lines[node.end_lineno - 1].strip() != "]":
        raise GraderError(f"{path.relative_to(REPO)} has no `MUTANTS = [` … `]` list whose `]` stands on a line of its "
                          "own: put it in that form and run this again.")
    return "".join([*lines[:node.end_lineno - 1], block, *lines[node.end_lineno - 1:]])


# ------------------------------------------------------------------------------------------------ the command

def plan(notebook_spec: str, name: str, points: float, visible_points: float = 1, params: str = "",
         module: str | None = None) -> Plan:
    """Check everything and compute every file's new text; raise a GraderError (nothing written) if anything is off."""
    check_name(name)
    points, visible_points = _points(points, "--points"), _points(visible_points, "--visible-points")
    params = _parameters(params)
    notebook, path, exists = find_notebook(notebook_spec)
    check_unused(name, path)
    module = choose_module(name, path, exists, module)
    nb = nbformat.read(str(path), as_version=4) if exists else new_notebook(notebook)
    insert_exercise(nb, exercise_cells(name, params, module, points, visible_points))
    from nbgrader.nbgraderformat import MetadataValidator

    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)
    files = {path: nbformat.writes(nb) + "\n",
             CONTENT / "reference" / f"{module}.py": _reference(CONTENT / "reference" / f"{module}.py", name,
                                                                 params, notebook),
             CONTENT / "hidden" / f"{module}.py": _hidden(CONTENT / "hidden" / f"{module}.py", name, params,
                                                           notebook),
             MUTANTS / f"{module}.py": _mutants(MUTANTS / f"{module}.py", name, notebook)}
    for file, text in files.items():
        if file.suffix == ".py":
            compile(text, str(file), "exec")   # a bug of this command, not the instructor's: never write it
    return Plan(path, module, files, tuple(f for f in files if not f.exists()))


def new_exercise(notebook_spec: str, name: str, points: float, visible_points: float = 1, params: str = "",
                 module: str | None = None) -> Plan:
    """Scaffold the exercise (see the module's docstring); return what was written."""
    done = plan(notebook_spec, name, points, visible_points, params, module)
    for file, text in done.files.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    return done
