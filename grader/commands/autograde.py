"""``grader autograde``: collect a folder or zip of submissions, grade them (:func:`grader.grading.engine.autograde`),
write the grade table and CSVs, and say what the integrity re-check found."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grader.grading.sandbox import Isolation
from grader.project import (
    GraderError,
    check_gradebook_reachable,
    check_workspace,
    resolve_path,
    say,
    without_password,
    write_workspace_config,
)


def grade_and_report(
    source: Path | None,
    root: Path,
    *,
    db_url: str | None,
    jobs: int | None,
    students: Sequence[str] | None,
    notes: dict[str, str] | None = None,
    warm: bool = True,
    force: bool = False,
    dask: str | None = None,
    isolation: Isolation | None = None,
) -> int:
    """collect → autograde (+ feedback) → export → table. Returns 0, or 1 if a submission could not be graded."""
    from grader.commands.collect import collect
    from grader.commands.export import format_table, read_table, write_csvs
    from grader.grading.engine import autograde

    root = resolve_path(root)
    source = resolve_path(source) if source is not None else None
    check_workspace(root, db_url)
    check_gradebook_reachable(db_url)
    if source is not None:
        created = not root.exists()
        try:
            collected = collect(source, root)
        except GraderError:
            if created and root.is_dir() and not any(root.iterdir()):
                root.rmdir()  # refused: leave nothing behind
            raise
        say(f"collected {len(collected.submissions)} submission(s) from {source} into {root / 'submitted'}")
        for problem in collected.problems:
            say(f"  note: {problem}")
    executor = None
    if dask:
        from grader.grading.executor import DaskExecutor

        executor = DaskExecutor(dask, jobs=jobs, warm=warm, isolation=isolation)
    outcomes = autograde(root, db_url=db_url, jobs=jobs, students=students, progress=say, warm=warm, force=force,
                         executor=executor, isolation=isolation)
    note = write_workspace_config(root, db_url)   # formgrader and nbgrader's commands in the workspace
    if note:
        say(f"note: {note}")
    failed = {(o.student, o.assignment) for o in outcomes if not o.ok}
    table = read_table(root, db_url, failed)
    long_csv, wide_csv = write_csvs(table, root, db_url)
    print()
    print(format_table(table, notes))
    print()
    for outcome in outcomes:
        if not outcome.ok:
            print(f"could not grade {outcome.student}/{outcome.assignment}: {outcome.problem}")
    print(f"feedback (one HTML file per student and notebook): {root / 'feedback'}")
    print(f"autograded notebooks: {root / 'autograded'}")
    print(f"grades: {wide_csv} (one row per student), {long_csv} (nbgrader's export)")
    print(f"gradebook: {without_password(db_url) if db_url else root / 'gradebook.db'}")
    from grader.integrity.report import IntegrityLog

    report = IntegrityLog(root)
    _print_rows(f"integrity: {len(report.flagged())} test(s) scored lower outside the student's kernel; the "
                f"lower score counts: {report.csv_path}", report.flagged())
    _print_rows(f"could not be verified: {len(report.unverified())} test(s) whose re-check outside the student's "
                "kernel did not finish (a deadline, a lost process, an error); the lower score counts until you review "
                f"them: {report.csv_path}", report.unverified())
    _print_rows(f"grading environment: {len(report.environment())} test(s) scored HIGHER out of process than in the "
                "kernel. Nothing a student gains: either the kernel side of grading failed (a module or tool missing "
                "in the sandbox) or the re-check could not see what the kernel saw (README: a module that shares "
                f"storage with its input). The in-kernel score stands; look at: {report.csv_path}",
                report.environment())
    return 1 if failed else 0


def _print_rows(title: str, rows: list[dict]) -> None:
    """A heading and one line per integrity row (nothing when there are none)."""
    from grader.integrity.report import ENVIRONMENT

    if rows:
        print(title)
    for row in rows:
        reason = f" — {' '.join(row['reason'].split())[:160]}" if not row["status"].startswith(ENVIRONMENT) else ""
        kernel = "a hidden test" if row["in_kernel"] is None else f"{row['in_kernel']:g} in the kernel"
        print(f"  {row['student']} {row['notebook']} {row['test']}: {kernel}, {row['out_of_process']:g} out of "
              f"process{reason}")
