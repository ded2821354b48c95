"""Plain nbgrader against `grader autograde`, on the same class, in one run, with the same scores.

    .venv/bin/python benchmarks/bench_grading.py [--students 20] [--jobs N]

Builds a class of N students (default 20) from the solutions and the mutants of every notebook (student i hands in,
for each notebook, the solution or one of its mutants in turn), then grades it twice:

1. plain nbgrader, as an instructor runs it: ``nbgrader generate_assignment``, then ``nbgrader autograde`` and
   ``nbgrader generate_feedback`` for each assignment, one notebook after another, with this course's
   nbgrader_config.py;
2. ``grader autograde`` (grader.grading.engine): parallel workers, warm kernels, one gradebook writer.

It asserts that both gradebooks hold the same scores, then prints wall times, the cost per graded notebook, the
ratio, and the overhead per notebook beyond the time the graded cells themselves take (measured by executing each
solution notebook once with cell timing).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from nbclient import NotebookClient

from grader.commands.export import grade_rows
from grader.grading.engine import autograde, default_jobs
from grader.project import REPO, SOLUTIONS, configure_logging, default_db_url, graded_assignments
from grader.samples.mutants import all_mutants
from grader.samples.submissions import fill, write_notebook


def build_class(root: Path, students: int) -> int:
    """Write the class into root/submitted; return the number of notebook submissions."""
    mutants = {}
    for mutant in all_mutants():
        mutants.setdefault(mutant.notebook, []).append(mutant)
    count = 0
    for i in range(students):
        for assignment in graded_assignments():
            for notebook in assignment.notebooks:
                choices = [None, *mutants.get(notebook, [])]
                pick = choices[i % len(choices)]
                nb = fill(assignment, notebook, {pick.cell: pick.source} if pick else None)
                write_notebook(nb, root / "submitted" / f"s{i:03d}" / assignment.name / f"{notebook}.ipynb")
                count += 1
    return count


def nbgrader(*args: str, root: Path) -> float:
    """Run one nbgrader command the way an instructor would; return its wall time."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args, f"--CourseDirectory.root={root}",
                    f"--CourseDirectory.source_directory={SOLUTIONS}", "--CourseDirectory.release_directory=release",
                    f"--CourseDirectory.db_url={default_db_url(root)}"],
                   cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def graded_cell_seconds() -> dict[str, float]:
    """Per notebook: the time its test cells take, from one timed execution of the completed notebook."""
    out = {}
    for assignment in graded_assignments():
        for notebook in assignment.notebooks:
            nb = fill(assignment, notebook)
            with tempfile.TemporaryDirectory() as tmp:
                env = os.environ.copy()
                os.environ["NBGRADER_EXECUTION"] = "autograde"  # as under grading: experiments skipped
                try:
                    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": tmp}},
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
                finally:
                    os.environ.clear()
                    os.environ.update(env)
            total = 0.0
            for cell in nb.cells:
                timing = cell.metadata.get("execution", {})
                if cell.metadata.get("nbgrader", {}).get("grade") and "shell.execute_reply" in timing:
                    begin = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
                    end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
                    total += (end - begin).total_seconds()
            out[notebook] = total
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    args = parser.parse_args()
    configure_logging()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        plain, fast = Path(tmp) / "plain", Path(tmp) / "fast"
        n = build_class(plain, args.students)
        build_class(fast, args.students)
        print(f"class: {args.students} students × {len(graded_assignments())} notebooks = {n} submissions",
              file=sys.stderr)

        t_generate = sum(nbgrader("generate_assignment", a.name, "--force", root=plain) for a in graded_assignments())
        t_autograde = t_feedback = 0.0
        for assignment in graded_assignments():
            print(f"plain nbgrader: {assignment.name} …", file=sys.stderr, flush=True)
            # stock nbgrader on purpose: the repository's config refuses its autograde unless told (grader.compat.guard)
            t_autograde += nbgrader("autograde", assignment.name, "--UseTheGrader.enabled=False", root=plain)
            t_feedback += nbgrader("generate_feedback", assignment.name, root=plain)
        t_plain = t_generate + t_autograde + t_feedback

        print(f"grader autograde with {args.jobs} worker(s) …", file=sys.stderr, flush=True)
        start = time.perf_counter()
        outcomes = autograde(fast, jobs=args.jobs, progress=lambda line: None)
        t_fast = time.perf_counter() - start
        assert all(o.ok for o in outcomes), [o.problem for o in outcomes if not o.ok]

        a, b = grade_rows(default_db_url(plain)), grade_rows(default_db_url(fast))
        assert a == b, f"scores differ in {sum(a.get(k) != b.get(k) for k in set(a) | set(b))} grade cells"
        cells = graded_cell_seconds()

    mean_cells = sum(cells.values()) / len(cells)
    print(f"\nthe same {n} notebook submissions, the same scores ({len(a)} grade cells compared)\n")
    print(f"{'':38}{'wall':>9}{'per notebook':>14}")
    print(f"{'plain nbgrader (generate+autograde+feedback)':38}{t_plain:8.1f}s{t_plain / n:13.2f}s")
    print(f"{'  of which autograde alone':38}{t_autograde:8.1f}s{t_autograde / n:13.2f}s")
    print(f"{'grader autograde (with feedback)':38}{t_fast:8.1f}s{t_fast / n:13.2f}s")
    print(f"\nspeed-up: {t_plain / t_fast:.1f}× overall, {t_autograde / t_fast:.1f}× against nbgrader's autograde "
          "alone (which writes no feedback)")
    cpu = t_fast * args.jobs / n
    print(f"graded cells take {mean_cells:.2f} s per notebook on average ("
          + ", ".join(f"{k} {v:.2f}" for k, v in cells.items()) + ")")
    print(f"overhead per notebook beyond its graded cells: {t_fast / n - mean_cells / args.jobs:.2f} s of wall time "
          f"({cpu - mean_cells:.2f} s of worker time on {args.jobs} worker(s)); plain nbgrader: "
          f"{t_autograde / n - mean_cells:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
