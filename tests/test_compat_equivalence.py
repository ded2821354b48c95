"""The course's nbgrader grades as stock nbgrader does: every gradebook row and every autograded cell, the same.

Everything in ``grader/compat/`` that an ordinary submission goes through is compared with what it replaces:
``ResilientExecute`` (nbgrader's ``Execute``), ``LimitOutputSize`` (``LimitOutput``), ``SaveAutoGradesAtOnce``
(``SaveAutoGrades``, whose ``preprocess`` it copies with the per-cell commits turned into flushes), the speedups
(shared SQLAlchemy engines, the metadata schema checked once), ``WarmKernelProvisioner`` (a kernel forked with torch
imported, instead of jupyter_client's ``LocalProvisioner``) and ``QuickReadyClient`` (its readiness
handshake and shared ZeroMQ context, instead of ``AsyncKernelClient``). The same submissions of one assignment (the
untouched release, a mutant) are autograded twice by real nbgrader runs, each in a fresh process from the same
gradebook: once with nbgrader's own preprocessors, kernel and client, once as a grading worker runs them (hidden
tests in the kernel on both sides; the grader's out-of-process hidden tests are proven by tests/test_remote.py and
tests/test_grading.py). Between two gradings of the mutant a person gives one of its cells a manual score, so
nbgrader's "a manual grade means review it" rule is exercised on rows that already exist. Both gradebooks must hold
the same rows (ids and the submission's time aside), and both autograded notebooks the same cells (nbclient's
recorded times aside).

What happens only when a kernel dies or hangs (``ResilientExecute``'s restart) has no stock twin: stock nbgrader
drops the notebook. tests/test_hostile.py holds that behaviour.

Run as ``python -m tests.test_compat_equivalence stock|course ROOT`` it is that grading process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from grader.project import REPO, notebook_index
from grader.samples.mutants import by_name
from grader.samples.submissions import fill, write_notebook

NOTEBOOK = "01_lookup"   # code and Markdown answers, autograded and manually graded cells, visible and hidden tests
MUTANT = by_name("embed_lookup_columns")
# The untouched release ("No response.", zeros) and a mutant (full, partial and no credit): every value SaveAutoGrades
# writes, with two kernels per run. (The full solution adds none: the mutant's other cells are the solution's.)
STUDENTS = ("release", f"m-{MUTANT.name}")
REVIEWED = "embed_lookup_hidden"   # the mutant's cell a person scores by hand between its two gradings

# Every table's rows are compared with each random id replaced by what the row is: the table's columns that name it,
# joined by "/" ("01_lookup/release" for a submission).
# A foreign key is replaced by the natural key of the row it points to. Tables not listed keep their ids (the
# course's and the students' ids are names); an id that is random there makes the comparison fail, not pass.
NATURAL_KEYS = {
    "assignment": ("name",),
    "notebook": ("assignment_id", "name"),
    "base_cell": ("notebook_id", "name"),
    "source_cell": ("notebook_id", "name"),
    "submitted_assignment": ("assignment_id", "student_id"),
    "submitted_notebook": ("assignment_id", "notebook_id"),
    "grade": ("notebook_id", "cell_id"),
    "comment": ("notebook_id", "cell_id"),
}
WHEN = {("submitted_assignment", "timestamp")}   # the time nbgrader records a submission without a timestamp.txt


def grade_in_this_process(mode: str, root: Path) -> dict[str, Any]:
    """Autograde every student in ``root/submitted``, score the mutant's REVIEWED cell by hand, autograde it again.

    mode "stock": nbgrader's own autograde preprocessors (``Execute``, ``LimitOutput``, ``SaveAutoGrades``), its
    ``python3`` kernel over TCP with jupyter_client's provisioner and client, and nothing of speedups installed;
    "course": what a grading worker runs (``ResilientExecute``, ``LimitOutputSize``, ``SaveAutoGradesAtOnce``, the
    speedups, a warm kernel forked by ``WarmKernelProvisioner`` and driven over IPC by
    ``QuickReadyClient``), hidden tests in the kernel as stock nbgrader runs them. Returns the preprocessors, the
    kernel and client classes used, whether each of speedups' two patches is installed, and the autograded
    notebooks."""
    from nbgrader.api import Gradebook

    from grader.project import check_result, make_api, quiet_nbgrader_warnings

    quiet_nbgrader_warnings()
    assignment = notebook_index()[NOTEBOOK].name
    if mode == "course":
        from grader.compat import speedups
        from grader.compat.kernels import KERNEL_NAME
        from grader.grading.executor import Settings, boot
        from grader.grading.sandbox import Isolation

        # Not sandboxed: in the sandbox the student's kernel cannot import the hidden tests (by design), and stock
        # nbgrader runs them there. The sandbox itself is proven by tests/test_boundary.py and tests/test_hostile.py.
        worker = boot(Settings(isolation=Isolation(sandbox=False)))
        api = make_api(root, kernel_ipc_dir=worker.root / "kernels", kernel_name=KERNEL_NAME)
        speedups.install()
    else:
        from nbgrader.converters import Autograde

        api = make_api(root)
        api.config.Autograde.autograde_preprocessors = Autograde.class_traits()["autograde_preprocessors"].default()
    for student in STUDENTS:
        check_result(api.autograde(assignment, student, force=True, create=True), f"autograde {student}")
    with Gradebook(api.coursedir.db_url) as gb:
        grade = gb.find_grade(REVIEWED, NOTEBOOK, assignment, STUDENTS[-1])
        grade.manual_score = 0.5
        gb.find_comment(MUTANT.cell, NOTEBOOK, assignment, STUDENTS[-1]).manual_comment = "Rows, not columns."
        gb.db.commit()
    check_result(api.autograde(assignment, STUDENTS[-1], force=True, create=True), "autograde again")
    import nbgrader.api
    from nbgrader.nbgraderformat import common

    installed = [getattr(nbgrader.api.create_engine, "shared_by_grader", False),
                 type(common.jsonschema).__name__ == "_SchemaCheckedOnce"]
    notebooks = {student: json.loads((root / "autograded" / student / assignment / f"{NOTEBOOK}.ipynb").read_text())
                 for student in STUDENTS}
    return {"preprocessors": [p.__name__ for p in api.config.Autograde.autograde_preprocessors],
            "kernel": [api.config.ExecutePreprocessor.kernel_name, str(api.config.KernelManager.client_class)],
            "speedups": installed, "notebooks": notebooks}


def comparable(nb: dict[str, Any]) -> list[dict[str, Any]]:
    """A notebook's cells as nbgrader left them, without the times nbclient records (``metadata.execution``), and with
    consecutive stream outputs of one stream joined: how a cell's printing is cut into messages depends on when the
    kernel flushed (``print("x")`` may arrive as "x" and "\\n" on a busy machine); every frontend shows them as one."""
    cells = []
    for cell in nb["cells"]:
        cell = dict(cell, metadata={k: v for k, v in cell["metadata"].items() if k != "execution"})
        if "outputs" in cell:
            cell["outputs"] = _joined_streams(cell["outputs"])
        cells.append(cell)
    return cells


def _joined_streams(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    joined: list[dict[str, Any]] = []
    for output in outputs:
        last = joined[-1] if joined else None
        if (output.get("output_type") == "stream" and last is not None and last.get("output_type") == "stream"
                and last.get("name") == output.get("name")):
            text = "".join(last["text"]) + "".join(output["text"])
            joined[-1] = dict(last, text=text)
        else:
            joined.append(dict(output, text="".join(output["text"])) if output.get("output_type") == "stream"
                          else output)
    return joined


def gradebook_rows(db_url: str) -> dict[str, list[dict[str, Any]]]:
    """table -> its rows (sorted), random ids replaced by natural keys (NATURAL_KEYS), times by whether set."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        raw = {name: [dict(row._mapping) for row in conn.execute(table.select())]
               for name, table in meta.tables.items()}
    engine.dispose()
    by_id = {name: {row["id"]: row for row in rows if "id" in row} for name, rows in raw.items()}

    def key(table: str, value: Any) -> Any:
        if value is None or table not in NATURAL_KEYS:
            return value
        row = by_id[table][value]
        return "/".join(str(column_value(table, column, row[column])) for column in NATURAL_KEYS[table])

    def column_value(table: str, column: str, value: Any) -> Any:
        fks = list(meta.tables[table].c[column].foreign_keys)
        if fks:
            return key(fks[0].column.table.name, value)
        if column == "id":
            return key(table, value)
        if (table, column) in WHEN:
            return value is not None
        return value

    return {table: sorted(({c: column_value(table, c, v) for c, v in row.items()} for row in rows), key=repr)
            for table, rows in raw.items()}


def _grade(mode: str, root: Path) -> dict[str, list[Any]]:
    done = subprocess.run([sys.executable, "-m", "tests.test_compat_equivalence", mode, str(root)], cwd=REPO,
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, f"the {mode} grading failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_course_writes_every_gradebook_row_stock_nbgrader_writes(tmp_path: Path) -> None:
    from grader.commands.release import generate
    from grader.project import default_db_url

    assignment = notebook_index()[NOTEBOOK]
    template = tmp_path / "template"
    template.mkdir()
    generate(template, default_db_url(template), only=[assignment])
    submissions = {"release": fill(assignment, NOTEBOOK, solve=False),
                   STUDENTS[-1]: fill(assignment, NOTEBOOK, {MUTANT.cell: MUTANT.source})}
    rows, used = {}, {}
    for mode in ("stock", "course"):
        root = tmp_path / mode
        root.mkdir()
        shutil.copyfile(template / "gradebook.db", root / "gradebook.db")
        for student, nb in submissions.items():
            write_notebook(nb, root / "submitted" / student / assignment.name / f"{NOTEBOOK}.ipynb")
        used[mode] = _grade(mode, root)
        rows[mode] = gradebook_rows(default_db_url(root))

    # The two runs differ in exactly what compat/ replaces, or this test would compare nothing.
    stock, course = used["stock"]["preprocessors"], used["course"]["preprocessors"]
    replaced = {"Execute": "ResilientExecute", "LimitOutput": "LimitOutputSize",
                "SaveAutoGrades": "SaveAutoGradesAtOnce"}
    assert set(replaced) <= set(stock) and not set(replaced.values()) & set(stock), stock
    assert course == [replaced.get(p, p) for p in stock], (stock, course)
    assert not any(used["stock"]["speedups"]) and all(used["course"]["speedups"]), used
    assert used["stock"]["kernel"][0] == "python3" and "QuickReadyClient" not in used["stock"]["kernel"][1], used
    assert used["course"]["kernel"] == ["grader-warm", "grader.compat.kernels.QuickReadyClient"], used["course"]

    # Every cell of every autograded notebook is what stock nbgrader made of it: sources, outputs, tracebacks, scores.
    for student in STUDENTS:
        theirs = comparable(used["stock"]["notebooks"][student])
        ours = comparable(used["course"]["notebooks"][student])
        assert len(ours) == len(theirs), student
        for mine, stock_cell in zip(ours, theirs, strict=True):
            assert mine == stock_cell, (f"{student}: cell {stock_cell['metadata'].get('nbgrader', {}).get('grade_id')}"
                                        f" differs from stock nbgrader's:\n{stock_cell}\n{mine}")

    # ... and the rows exercise every value SaveAutoGrades writes, or equality would prove little.
    grades = rows["stock"]["grade"]
    assert len(grades) == len(STUDENTS) * 13, len(grades)
    scores = {g["auto_score"] for g in grades}
    assert {None, 0.0, 1.0, 2.0} <= scores and any(s not in (None, 0.0, 1.0, 2.0) for s in scores), scores
    assert {g["needs_manual_grade"] for g in grades} == {True, False}
    reviewed = [g for g in grades if g["cell_id"].endswith("/" + REVIEWED) and g["manual_score"] is not None]
    assert len(reviewed) == 1 and reviewed[0]["needs_manual_grade"] and reviewed[0]["auto_score"] is not None
    comments = {c["auto_comment"] for c in rows["stock"]["comment"]}
    assert comments == {None, "No response."}, comments

    assert rows["course"].keys() == rows["stock"].keys()
    for table in rows["stock"]:
        missing = [r for r in rows["stock"][table] if r not in rows["course"][table]]
        extra = [r for r in rows["course"][table] if r not in rows["stock"][table]]
        assert not missing and not extra, (f"table {table}: rows stock nbgrader wrote and the course did not "
                                           f"{missing[:3]}; rows only the course wrote {extra[:3]}")


if __name__ == "__main__":
    print(json.dumps(grade_in_this_process(sys.argv[1], Path(sys.argv[2]))))


def test_the_autograde_guard_turned_off_is_nbconverts_notebook_exporter() -> None:
    """grader.compat.guard.RefuseAutograde, nbgrader's Autograde.exporter_class in the course's configuration: with
    ``--UseTheGrader.enabled=False`` (stock nbgrader, knowingly) it is built and writes what NotebookExporter writes;
    on, it refuses as it is built, naming the command to run; and the grader's own configuration of nbgrader has
    stock nbgrader's exporter."""
    import nbformat
    import pytest
    from nbconvert.exporters import NotebookExporter
    from traitlets.config import Config

    from grader.compat.guard import GradeWithTheGrader, RefuseAutograde

    nb = nbformat.read(str(REPO / "course" / "01_lookup" / "01_lookup.ipynb"), as_version=4)
    off = Config()
    off.UseTheGrader.enabled = False
    assert RefuseAutograde(config=off).from_notebook_node(nb)[0] == NotebookExporter().from_notebook_node(nb)[0]
    on = Config()
    on.UseTheGrader.root = "/somewhere"
    with pytest.raises(GradeWithTheGrader, match="python -m grader autograde --root /somewhere"):
        RefuseAutograde(config=on)
    from nbgrader.converters import Autograde

    from grader.project import load_config

    assert Autograde(config=load_config(REPO)).exporter_class is NotebookExporter, "the grader would refuse itself"
