"""``python -m grader``: the instructor's commands, named after nbgrader's verbs.

    release    regenerate course/ from solutions/ (nbgrader generate_assignment)
    distribute write the student distribution of a graded class: course/, requirements, Binder; no answers
    autograde  collect a folder or zip of submissions, autograde them in parallel, write feedback and grades
    feedback   regenerate the feedback pages from the gradebook (after grading written answers by hand)
    export     print the grade table and write the CSVs again from the gradebook
    demo       build a sample class from bundled submissions and autograde it
    new-exercise  scaffold an exercise: its cells in a solutions/ notebook, its reference, hidden-test and mutant stubs
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from grader.grading.sandbox import Isolation, Limits
from grader.project import (
    COURSE,
    GraderError,
    check_db_url,
    check_gradebook_reachable,
    configure_logging,
    ensure_tools_on_path,
    first_line,
    require_gradebook,
    resolve_path,
    say,
)


def _graded_workspace(args: argparse.Namespace) -> None:
    """``--root``/``--db`` of a workspace that has been graded, its gradebook reachable; else a GraderError."""
    require_gradebook(args.root, args.db)
    check_gradebook_reachable(args.db)


def _db_argument(url: str) -> str:
    try:
        return check_db_url(url)
    except GraderError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _release(args: argparse.Namespace) -> int:
    from grader.commands.release import release

    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "course"
            if COURSE.exists():
                shutil.copytree(COURSE, fresh)
            changed = release(fresh)
        if changed:
            print(f"course/ is out of date for: {', '.join(changed)}. Run `python -m grader release`.")
            return 1
        print("course/ is up to date with solutions/.")
        return 0
    changed = release()
    print(f"regenerated course/: {', '.join(changed) if changed else 'nothing changed'}")
    return 0


def _distribute(args: argparse.Namespace) -> int:
    from grader.commands.distribute import distribute

    files = distribute(args.dir)
    print(f"wrote the student distribution ({len(files)} files) to {args.dir}: course/, requirements.txt, "
          "environment.yml, binder/ and README.md; no solutions, no hidden tests. Publish it as its own repository "
          "(Binder builds from binder/) or hand it out as a zip.")
    return 0


def _autograde(args: argparse.Namespace) -> int:
    limits = Limits(memory=int(args.memory * 1024**3), cpu=args.cpu_seconds)
    from grader.commands.autograde import grade_and_report

    return grade_and_report(args.submissions, args.root, db_url=args.db, jobs=args.jobs, students=args.student,
                            warm=not args.cold, force=args.force, dask=args.dask,
                            isolation=Isolation(sandbox=not args.no_sandbox, limits=limits))


def _feedback(args: argparse.Namespace) -> int:
    from grader.commands.feedback import regenerate_feedback

    done = regenerate_feedback(args.root, args.db)
    print(f"regenerated the feedback of {', '.join(done)} in {args.root / 'feedback'}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from grader.commands.export import format_table, read_table, write_csvs

    _graded_workspace(args)
    table = read_table(args.root, args.db)
    long_csv, wide_csv = write_csvs(table, args.root, args.db)
    print(format_table(table))
    print(f"\ngrades: {wide_csv}, {long_csv}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from grader.commands.demo import run_demo

    return run_demo(args.root, args.jobs, say)


def _new_exercise(args: argparse.Namespace) -> int:
    from grader.commands.new_exercise import new_exercise
    from grader.project import REPO

    done = new_exercise(args.notebook, args.name, args.points, args.visible_points, args.params, args.module)
    for path in done.files:
        print(f"{'created' if path in done.created else 'extended'} {path.relative_to(REPO)}")
    print("Fill in every TODO (the hidden tests give 0 points until they are written), then `python -m grader "
          "release` and `make test`.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="show nbgrader's log")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("release", help="regenerate course/ from solutions/")
    p.add_argument("--check", action="store_true", help="only report whether course/ is up to date (exit 1 if not)")
    p.set_defaults(command_parser=p, run=_release)

    p = sub.add_parser("distribute", help="write the student distribution of a graded class (no solutions)",
                       description="Write DIR: the release (course/), the requirements students need (numpy, torch, "
                                   "matplotlib, JupyterLab at the lock's versions) for pip, conda and Binder, and a "
                                   "README for students; nothing of solutions/ or grader/. DIR must be new or empty "
                                   "and outside the repository. Run `python -m grader release` first.")
    p.add_argument("dir", type=resolve_path, metavar="DIR", help="where to write it (a new or empty folder)")
    p.set_defaults(command_parser=p, run=_distribute)

    def workspace(p: argparse.ArgumentParser, default: str) -> None:
        p.add_argument("--root", type=resolve_path, default=default,
                       help=f"the class workspace: submitted/, autograded/, feedback/, gradebook (default: {default})")
        p.add_argument("--db", metavar="URL", type=_db_argument,
                       help="gradebook as an SQLAlchemy URL (default: sqlite in --root)")

    p = sub.add_parser("autograde", help="grade a folder or zip of submissions")
    p.add_argument("submissions", type=resolve_path, nargs="?",
                   help="folder or zip: <student>/<assignment>/<notebook>.ipynb or <student>_<notebook>.ipynb "
                        "(default: what is already in ROOT/submitted)")
    workspace(p, ".")
    p.add_argument("--jobs", "-j", type=int, help="worker processes (default: one per core)")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument("--force", "-f", action="store_true",
                   help="re-grade submissions that are unchanged since they were last graded")
    p.add_argument("--cold", action="store_true",
                   help="start every kernel from scratch instead of forking one with numpy/torch preloaded")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="execute on a Dask cluster: a scheduler address (tcp://host:8786) or 'local'")
    defaults = Limits()
    p.add_argument("--memory", type=float, default=defaults.memory / 1024**3, metavar="GB",
                   help=f"address-space limit of each student process (default: {defaults.memory / 1024**3:g}; "
                        "torch needs at least 1.5)")
    p.add_argument("--cpu-seconds", type=int, default=defaults.cpu, metavar="S",
                   help=f"CPU-time limit of each student process (default: {defaults.cpu})")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run student code without the bubblewrap sandbox (only where it cannot work; see README)")
    p.set_defaults(command_parser=p, run=_autograde)

    p = sub.add_parser("feedback", help="regenerate feedback pages from the gradebook (after manual grading)")
    workspace(p, ".")
    p.set_defaults(command_parser=p, run=_feedback)

    p = sub.add_parser("export", help="print the grade table and write the CSVs from the gradebook")
    workspace(p, ".")
    p.set_defaults(command_parser=p, run=_export)

    p = sub.add_parser("demo", help="build a sample class and autograde it")
    p.add_argument("--root", type=resolve_path, default="demo-class", help="where to build it (default: demo-class)")
    p.add_argument("--jobs", "-j", type=int, help="worker processes (default: one per core)")
    p.set_defaults(command_parser=p, run=_demo)

    p = sub.add_parser("new-exercise", help="scaffold an exercise: notebook cells, reference, hidden tests, mutants",
                       description="Add exercise NAME to notebook NOTEBOOK (created if it does not exist): a Markdown "
                                   "cell, the answer cell, NAME_visible and NAME_hidden test cells, and stubs in "
                                   "grader/content/reference/, grader/content/hidden/ and grader/samples/mutants/. "
                                   "Nothing is written if anything is wrong.")
    p.add_argument("notebook", help="NN_topic (created if new, e.g. 09_retrieval) or NN of an existing notebook")
    p.add_argument("name", help="the function the student writes; also its grade id (e.g. near_rows)")
    p.add_argument("--points", type=float, default=2, help="points of the hidden tests (default: 2)")
    p.add_argument("--visible-points", type=float, default=1, help="points of the visible checks (default: 1)")
    p.add_argument("--params", default="", metavar="'a, b'", help="the function's parameters, as in a def")
    p.add_argument("--module", help="module of grader/content/ for a new notebook (default: its topic)")
    p.set_defaults(command_parser=p, run=_new_exercise)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would name the top-level usage; the command's own usage says what it takes
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    configure_logging(args.verbose)
    ensure_tools_on_path()
    try:
        return args.run(args)
    except GraderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if type(err).__module__.split(".")[0] not in ("sqlalchemy", "psycopg2", "sqlite3"):
            raise
        print(f"error: the gradebook could not be used: {first_line(err)}", file=sys.stderr)
        return 2
