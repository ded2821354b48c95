"""How long each notebook takes for a student, and for nbgrader to autograde one submission of it.

    make bench            (or: .venv/bin/python benchmarks/bench_notebooks.py [--repeat N])

For every notebook it measures, side by side in one run, best of N:

* kernel start — a fresh kernel running an empty cell;
* imports      — the notebook's setup cell (numpy, torch, matplotlib) on top of that;
* student run  — the whole solution notebook as a student runs it, experiment included;
* autograde    — nbgrader's `autograde` + `generate_feedback` of one submission (the full solution) in a grading
                 worker, with a kernel started the ordinary way (cold);
* warm         — the same with grader's warm kernels (forked from a process that has imported torch);
* graded cells — the time the test cells themselves take inside that run.

A timed unit test would be flaky; this prints numbers and ratios and checks them against the budget in the
README (a notebook executes in under 15 s on 2 cores; 05, which trains four models, in under a minute), exiting 1
if one is exceeded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grader.grading.engine import autograde
from grader.grading.executor import LocalExecutor
from grader.project import assignments, configure_logging
from grader.samples.submissions import fill, write_notebook

STUDENT_RUN_BUDGET_S = 15.0
# Notebook 05 trains four small models in its experiment; its budget is "well under a minute on 2 cores".
BUDGET_S = {"05_alibi": 60.0, "08_geometry": 20.0}   # 08 trains seven SGNS runs and three TinyLMs


def _run(nb: nbformat.NotebookNode, cwd: Path) -> float:
    start = time.perf_counter()
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(cwd)}},
                   extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
    return time.perf_counter() - start


def _cell_seconds(cell: nbformat.NotebookNode) -> float:
    timing = cell.metadata.get("execution", {})
    try:
        begin = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except KeyError:
        return 0.0
    return (end - begin).total_seconds()


def bench_notebook(assignment, notebook: str, repeat: int, work: Path) -> dict[str, float]:
    source = nbformat.read(str(assignment.source_dir / f"{notebook}.ipynb"), as_version=4)
    setup = [c for c in source.cells if c.cell_type == "code"][:1]
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    imports_only = nbformat.v4.new_notebook(cells=setup)
    student = fill(assignment, notebook) if assignment.graded else source

    kernel = min(_run(empty, work) for _ in range(repeat))
    with_imports = min(_run(imports_only, work) for _ in range(repeat))
    runs = []
    for _ in range(repeat):
        nb = nbformat.from_dict(student)
        runs.append((_run(nb, work), nb))
    student_s, executed = min(runs, key=lambda r: r[0])
    graded_in_student_run = sum(_cell_seconds(c) for c in executed.cells
                                if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
    result = {"kernel": kernel, "imports": with_imports - kernel, "student": student_s,
              "graded_cells": graded_in_student_run}
    if assignment.graded:
        for label, warm in (("autograde", False), ("warm", True)):
            root = work / f"class-{notebook}-{label}"
            for i in range(repeat + 1):
                write_notebook(student, root / "submitted" / f"s{i}" / assignment.name / f"{notebook}.ipynb")
            outcomes = autograde(root, executor=LocalExecutor(1, warm=warm), progress=lambda line: None)
            assert all(o.ok for o in outcomes), [o.problem for o in outcomes]
            # the first submission also pays for the worker's set-up (and the zygote's imports): leave it out
            result[label] = min(sorted(outcomes, key=lambda o: o.student)[1:], key=lambda o: o.seconds).seconds
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    args = parser.parse_args()
    configure_logging()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for assignment in assignments():
            for notebook in assignment.notebooks:
                print(f"measuring {notebook} …", file=sys.stderr, flush=True)
                rows.append((notebook, bench_notebook(assignment, notebook, args.repeat, Path(tmp))))

    print(f"\nbest of {args.repeat} runs, seconds (autograde includes feedback HTML; one submission, one worker)\n")
    header = (f"{'notebook':<26}{'kernel start':>13}{'imports':>9}{'student run':>13}{'autograde cold':>16}"
              f"{'warm':>7}{'graded cells':>14}")
    print(header)
    print("-" * len(header))
    over_budget = []
    for notebook, r in rows:
        grade, warm = r.get("autograde"), r.get("warm")
        print(f"{notebook:<26}{r['kernel']:>13.2f}{r['imports']:>9.2f}{r['student']:>13.2f}"
              f"{(f'{grade:.2f}' if grade else '—'):>16}{(f'{warm:.2f}' if warm else '—'):>7}"
              f"{r['graded_cells']:>14.2f}")
        if r["student"] > BUDGET_S.get(notebook, STUDENT_RUN_BUDGET_S):
            over_budget.append(notebook)
    print("\nautograde: nbgrader's autograde + generate_feedback of one submission in a grading worker; cold = a "
          "kernel started as usual, warm = forked with torch imported\n")
    for notebook, r in rows:
        share = (r["kernel"] + r["imports"]) / r["student"]
        print(f"{notebook}: kernel start + imports are {share:.0%} of a student's run "
              f"({r['student']:.1f} s, budget {BUDGET_S.get(notebook, STUDENT_RUN_BUDGET_S):.0f} s)")
    if over_budget:
        print(f"OVER BUDGET: {', '.join(over_budget)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
