"""The trusted half of the out-of-process re-check: the same hidden tests, with the comparisons in our process.

nbgrader runs the hidden tests in the student's kernel, where student code can cheat: import the reference, make
``__eq__`` always true, monkeypatch numpy, rewrite the test cells with an input transformer. So after nbgrader, each
graded function is checked once more, differently:

1. the notebook's student cells run in a fresh process in the ``recheck`` sandbox, where the grader package does not
   exist (:mod:`grader.recheck_server`);
2. here, in the grader's process, the very same ``grade_*`` function of :mod:`grader.hidden` runs, but the student's
   function it receives is a :class:`RemoteFunction`: each call sends the arguments (plain arrays and numbers), the
   sandbox calls the student's function and sends back plain arrays, or the exception's type and message;
3. every comparison with the reference happens here, on plain arrays.

For an honest submission both runs see the same inputs and give the same score. A test whose in-kernel score is
higher than its out-of-process score is *flagged*, with the properties that failed out of process as the reason,
and the student gets the lower score.

Classes and modules cross too, as stand-ins and mirrors (:mod:`grader.remote`): ``Embedding(10, 3)`` is built in the
sandbox and the test here gets a real ``nn.Module`` holding its parameters, whose ``forward`` and ``backward`` run
the student's code over there. Every hidden test of every notebook is re-checked.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.remote import CALL_SECONDS, START_SECONDS, Session

if TYPE_CHECKING:
    from grader.warm import Zygote

@dataclass(frozen=True)
class HiddenTest:
    """A hidden test cell of the source notebook: ``grade_fn(name, points=points)`` from ``grader.hidden.module``."""

    grade_id: str
    module: str
    function: str
    name: str
    points: float


@dataclass(frozen=True)
class Verdict:
    """The re-check of one hidden test: its score out of process and, when lower than in the kernel, why."""

    grade_id: str
    name: str
    in_kernel: float | None
    out_of_process: float | None   # None: not re-checked
    max_points: float
    reason: str = ""

    @property
    def flagged(self) -> bool:
        return (self.out_of_process is not None and self.in_kernel is not None
                and self.in_kernel > self.out_of_process + 1e-6)

    @property
    def higher_outside(self) -> bool:
        """Scored more out of process than in the kernel. Honest code scores the same both ways, so this says
        the kernel side of grading failed (a module the hidden tests import is missing in the sandbox, a kernel
        that cannot start) or the re-check saw less than the kernel did: a fault of the grading, not the student."""
        return (self.out_of_process is not None and self.in_kernel is not None
                and self.out_of_process > self.in_kernel + 1e-6)


def hidden_tests(source_notebook: dict[str, Any]) -> list[HiddenTest]:
    """Every hidden test cell of an instructor notebook, read from its imports and its last line."""
    found = []
    for cell in source_notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") != "code" or not meta.get("grade") or "BEGIN HIDDEN TESTS" not in source:
            continue
        tree = ast.parse(source)
        modules = {alias.asname or alias.name: node.module for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grader.hidden.")
                   for alias in node.names}
        last = tree.body[-1] if tree.body else None
        call = last.value if isinstance(last, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in modules
                and call.args and isinstance(call.args[0], ast.Name)):
            continue
        points = next((kw.value.value for kw in call.keywords if kw.arg == "points"
                       and isinstance(kw.value, ast.Constant)), meta.get("points", 0))
        found.append(HiddenTest(meta["grade_id"], str(modules[call.func.id]).removeprefix("grader.hidden."),
                                call.func.id, call.args[0].id, float(points)))
    return found


def fatal_sources(autograded: Any) -> set[str]:
    """Sources of the cells that killed or hung the kernel during nbgrader's run (not run again here)."""
    from grader.execute import INCIDENT_ERRORS

    return {"".join(cell.get("source", "")) for cell in autograded.get("cells", [])
            if any(o.get("ename") in INCIDENT_ERRORS for o in cell.get("outputs", []))}


def student_cells(submitted: dict[str, Any], source_notebook: dict[str, Any], skip: set[str] = frozenset()
                  ) -> list[str]:
    """The code the student wrote or kept: every code cell of the submission except the test cells and ``skip``."""
    test_ids = {c["metadata"]["nbgrader"]["grade_id"] for c in source_notebook["cells"]
                if c.get("metadata", {}).get("nbgrader", {}).get("grade")
                and not c["metadata"]["nbgrader"].get("solution")}
    cells = []
    for cell in submitted.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") in test_ids or "experiment" in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if text not in skip:
            cells.append(text)
    return cells


def score_remotely(test: HiddenTest, session: Session) -> tuple[float, str]:
    """The hidden test's score with the student's function or class living in the sandbox, and what failed."""
    grade = getattr(importlib.import_module(f"grader.hidden.{test.module}"), test.function)
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        earned = float(grade(session.subject(test.name), points=test.points))
    failed = [line.strip() for line in _failures(report.getvalue())]
    return earned, "; ".join(failed)[:1500]


def _failures(report: str) -> Iterator[str]:
    lines = report.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("✗"):
            detail = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].strip()[:1] not in "✓✗" else ""
            yield line.strip() + (f" ({detail})" if detail else "")


def in_kernel_scores(autograded: Any) -> dict[str, float | None]:
    """grade id -> the score nbgrader gave the cell in the kernel (partial credit included)."""
    from nbgrader.utils import determine_grade, is_grade

    scores = {}
    for node in autograded.cells:
        if is_grade(node):
            scores[node.metadata["nbgrader"]["grade_id"]] = determine_grade(node)[0]
    return scores


def dumps(verdicts: list[Verdict]) -> bytes:
    return json.dumps([v.__dict__ for v in verdicts]).encode()


def loads(data: bytes) -> list[Verdict]:
    return [Verdict(**v) for v in json.loads(data)]


# ------------------------------------------------------------------------------------------------ in the worker


def recheck_notebook(zygote: Zygote, work: Path, source: dict[str, Any], submitted: dict[str, Any],
                     autograded: dict[str, Any], limits: dict[str, int]) -> list[Verdict]:
    """Re-check every hidden test of one graded notebook out of process; one verdict per hidden test."""
    tests = hidden_tests(source)
    in_kernel = in_kernel_scores(autograded)
    verdicts: list[Verdict] = []
    visible = visible_tests(source)
    for leftover in work.iterdir():
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    path = work / "calls.sock"
    cells = student_cells(submitted, source, fatal_sources(autograded))
    child = zygote.spawn("recheck", cells=cells, tests=[[g, src] for g, (src, _) in visible.items()],
                         plain=[t.name for t in tests],
                         socket=str(path), cwd=str(work),
                         limits=limits, env={"PATH": os.environ.get("PATH", "")},
                         cell_seconds=CALL_SECONDS)
    session = Session(path, time.monotonic() + START_SECONDS)
    try:
        for test in tests:
            score, reason = score_remotely(test, session)
            if session.lost and not reason:
                reason = session.lost
            verdicts.append(Verdict(test.grade_id, test.name, in_kernel.get(test.grade_id), score, test.points,
                                    reason))
        for grade_id, (_, points) in visible.items():
            failure = session.tests.get(grade_id, session.lost or "not run")
            verdicts.append(Verdict(grade_id, grade_id.removesuffix("_visible"), in_kernel.get(grade_id),
                                    0.0 if failure else points, points, failure))
    finally:
        session.close()
        child.kill()
    order = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in source["cells"]]
    return sorted(verdicts, key=lambda v: order.index(v.grade_id) if v.grade_id in order else len(order))


def visible_tests(source_notebook: dict[str, Any]) -> dict[str, tuple[str, float]]:
    """grade id -> (source, points) of every visible (not hidden) autograded test cell of an instructor notebook."""
    found = {}
    for cell in source_notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        text = "".join(cell.get("source", ""))
        if (cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution")
                and "BEGIN HIDDEN TESTS" not in text):
            found[meta["grade_id"]] = (text, float(meta.get("points", 0)))
    return found


def apply_verdicts(autograded: Any, verdicts: list[Verdict]) -> int:
    """Give each flagged hidden test its out-of-process score, in the autograded notebook: the cell's output says
    why and ends with the lower score, which nbgrader then reads as the cell's partial credit. Returns how many."""
    from nbformat import from_dict

    flagged = {v.grade_id: v for v in verdicts if v.flagged}
    for cell in autograded.get("cells", []):
        verdict = flagged.get(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
        if verdict is None:
            continue
        kept = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stdout"]
        note = (f"\n⚠ Integrity check: this test earned {verdict.in_kernel:g} of {verdict.max_points:g} points in "
                f"your notebook's kernel but {verdict.out_of_process:g} when `{verdict.name}` was checked again in a "
                f"separate, clean process. The lower score counts. What failed there: {verdict.reason or '—'}\n")
        cell["outputs"] = [*kept, from_dict({"output_type": "stream", "name": "stdout", "text": note}),
                           from_dict({"output_type": "execute_result", "execution_count": cell.get("execution_count"),
                                      "metadata": {}, "data": {"text/plain": f"{verdict.out_of_process:g}"}})]
    return len(flagged)
