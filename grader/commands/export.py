"""Grades out of the gradebook: nbgrader's CSV, a one-row-per-student CSV, and the table printed at the end.

``grades.csv`` is written by nbgrader's own ``CsvExportPlugin`` (one row per student and assignment).
``grades_by_student.csv`` and the printed table have one row per student, one column per notebook and the
total, which is what an instructor pastes into an LMS: the CSV also carries the names, email and LMS id nbgrader
holds for each student, a ``Points Possible`` row of maxima (as Canvas's gradebook export and import lay it out) and,
per student, the notebooks whose written answers no person has graded yet (their score counts 0 until then).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from grader.project import gradebook_url, graded_assignments, resolve_path, spreadsheet_safe


@dataclass(frozen=True)
class Cell:
    """One student's result on one notebook."""

    score: float | None   # None: not submitted
    max_score: float
    manual_pending: bool = False   # written answers no person has graded yet (they count 0)
    failed: bool = False           # nbgrader could not grade it (see the problems list)


@dataclass(frozen=True)
class Person:
    """What nbgrader's gradebook holds about a student besides the id (empty where it holds nothing)."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""


@dataclass
class Table:
    notebooks: list[str]
    max_scores: dict[str, float]
    rows: dict[str, dict[str, Cell]] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)

    def total(self, student: str) -> float:
        return sum(c.score or 0.0 for c in self.rows[student].values())

    @property
    def max_total(self) -> float:
        return sum(self.max_scores.values())


def read_table(root: Path, db_url: str | None = None, failed: set[tuple[str, str]] | None = None) -> Table:
    """Scores of every student in the gradebook; ``failed`` marks (student, assignment) nbgrader could not grade."""
    from nbgrader.api import Gradebook, MissingEntry

    root = resolve_path(root)
    db_url = gradebook_url(root, db_url)
    failed = failed or set()
    assignments = graded_assignments()
    table = Table([nb for a in assignments for nb in a.notebooks], {})
    with Gradebook(db_url) as gb:
        for a in assignments:
            try:
                for nb in gb.find_assignment(a.name).notebooks:
                    table.max_scores[nb.name] = nb.max_score
            except MissingEntry:  # added to solutions/ since the last grading: nobody has a score in it yet
                continue
        # A student whose only notebook could not be read never reached the gradebook; list them anyway.
        known = {s.id: s for s in gb.students}
        for student in sorted(set(known) | {student for student, _ in failed}):
            if student in known:
                s = known[student]
                table.people[student] = Person(s.first_name or "", s.last_name or "", s.email or "",
                                               s.lms_user_id or "")
            row = {}
            for a in assignments:
                for nb in a.notebooks:
                    try:
                        sub = gb.find_submission_notebook(nb, a.name, student)
                        # Waiting for a person: a written answer with no score at all. nbgrader also flags an answer
                        # graded by hand and then autograded again (needs_manual_grade, "to review"); its manual
                        # score stands, so it is not waiting.
                        waiting = sub.needs_manual_grade and any(
                            g.auto_score is None and g.manual_score is None for g in sub.grades)
                        cell = Cell(sub.score, sub.max_score, waiting, (student, a.name) in failed)
                    except MissingEntry:
                        cell = Cell(None, table.max_scores.get(nb, 0.0), failed=(student, a.name) in failed)
                    row[nb] = cell
            table.rows[student] = row
    return table


def grade_rows(db_url: str) -> dict[tuple[str, str, str, str], tuple[float | None, float, bool]]:
    """Every grade cell in the gradebook: (student, assignment, notebook, grade id) -> (automatic score, max
    score, awaits a person). What two gradings must agree on to have given the same grades."""
    from nbgrader.api import Gradebook

    rows = {}
    with Gradebook(db_url) as gb:
        for assignment in gb.assignments:
            for sub in gb.assignment_submissions(assignment.name):
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        rows[(sub.student.id, assignment.name, nb.name, grade.name)] = (
                            grade.auto_score, grade.max_score, grade.needs_manual_grade)
    return rows


def _fmt(cell: Cell) -> str:
    if cell.failed:
        return "error"
    if cell.score is None:
        return "—"
    return f"{cell.score:g}/{cell.max_score:g}" + ("*" if cell.manual_pending else "")


def format_table(table: Table, notes: dict[str, str] | None = None) -> str:
    """A plain-text table: one row per student, one column per notebook, and the total."""
    notes = notes or {}
    header = ["student", *table.notebooks, "total"] + (["note"] if notes else [])
    lines = [header]
    for student, row in table.rows.items():
        total = f"{table.total(student):g}/{table.max_total:g}"
        lines.append([student, *(_fmt(row[nb]) for nb in table.notebooks), total]
                     + ([notes.get(student, "")] if notes else []))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    legend = []
    if any(c.manual_pending for row in table.rows.values() for c in row.values()):
        legend.append("* written answers await a person's grade (nbgrader formgrader); they count 0 until then")
    if any(c.score is None and not c.failed for row in table.rows.values() for c in row.values()):
        legend.append("— not submitted")
    if any(c.failed for row in table.rows.values() for c in row.values()):
        legend.append("error: could not be graded, the reason is printed below")
    return "\n".join(out + legend)


def write_csvs(table: Table, root: Path, db_url: str | None = None) -> tuple[Path, Path]:
    """nbgrader's ``grades.csv`` and the one-row-per-student ``grades_by_student.csv`` in ``root``."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    root = resolve_path(root)
    long_csv = root / "grades.csv"
    with Gradebook(gradebook_url(root, db_url)) as gb:
        CsvExportPlugin(to=str(long_csv)).export(gb)
    wide_csv = root / "grades_by_student.csv"
    with wide_csv.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "first_name", "last_name", "email", "lms_user_id", *table.notebooks, "total",
                         "max_total", "awaiting_a_person"])
        writer.writerow(["Points Possible", "", "", "", "",
                         *(f"{table.max_scores.get(nb, 0.0):g}" for nb in table.notebooks), f"{table.max_total:g}",
                         f"{table.max_total:g}", ""])
        for student, row in table.rows.items():
            person = table.people.get(student, Person())
            writer.writerow([student, *map(spreadsheet_safe, (person.first_name, person.last_name, person.email,
                                                        person.lms_user_id)),
                             *(("" if row[nb].score is None else f"{row[nb].score:g}") for nb in table.notebooks),
                             f"{table.total(student):g}", f"{table.max_total:g}",
                             ";".join(nb for nb in table.notebooks if row[nb].manual_pending)])
    return long_csv, wide_csv
