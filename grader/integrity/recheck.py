"""The trusted half of the out-of-process check: every test of a notebook, run in the grader's own process.

Anything in the student's kernel can be subverted: an IPython input transformer rewrites the test cells, a
monkeypatch makes a checker report full marks, ``__eq__`` is always true. So hidden tests never run there at all
(:class:`grader.compat.execute.ResilientExecute` leaves them out), and after nbgrader has run the notebook:

1. the notebook's student cells are replayed in a fresh process in the ``recheck`` sandbox, where the grader package
   does not exist (:mod:`grader.sandboxed.subject`), in notebook order and each within the kernel's per-cell limit,
   the cells before a test before that test (:func:`replay`);
2. here, in the grader's process, each test runs where it stands: a hidden test's ``grade_*`` function of
   :mod:`grader.content.hidden`, a visible test's cell from the instructor's notebook; the student's functions they use
   are :class:`grader.integrity.stand_ins.RemoteFunction` proxies (each call sends plain arrays and numbers, the sandbox
   calls the student's function and sends back plain arrays, or the exception's type and message), their classes
   stand-ins;
3. every comparison happens here, on plain data.

A hidden test's score is the one it gets here, and its report goes into the graded notebook. A visible test whose
in-kernel score is higher than its score here is *flagged*: the lower score counts. Whatever stops the check — a
deadline, a lost or malformed reply, an error on this side — fails closed: the test is *unverified* and counts the
lower score (a hidden test 0), reported for review.

Classes and modules cross too, as stand-ins and mirrors (:mod:`grader.integrity.stand_ins`): ``Embedding(10, 3)`` is
built in the sandbox and the test here gets a real ``nn.Module`` holding its parameters, whose ``forward`` and
``backward`` run the student's code over there.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import json
import os
import socket
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.cells import grade_id, is_answer, is_graded, is_hidden_test, is_test_cell, nbgrader_meta, text
from grader.integrity.stand_ins import RemoteError, Session

if TYPE_CHECKING:
    from grader.grading.zygote_client import Zygote

@dataclass(frozen=True)
class HiddenTest:
    """A hidden test cell of the source notebook: ``grade_fn(name, points=points)`` from
    ``grader.content.hidden.<module>``."""

    grade_id: str
    module: str
    function: str
    name: str
    points: float


@dataclass(frozen=True)
class VisibleTest:
    """A visible test cell of the source notebook: its source, run as it stands."""

    grade_id: str
    source: str
    points: float

    @property
    def name(self) -> str:
        return self.grade_id.removesuffix("_visible")


Test = HiddenTest | VisibleTest


@dataclass(frozen=True)
class Verdict:
    """The re-check of one hidden test: its score out of process and, when lower than in the kernel, why."""

    grade_id: str
    name: str
    in_kernel: float | None
    out_of_process: float | None   # None: not re-checked
    max_points: float
    reason: str = ""
    verified: bool = True          # False: the re-check could not finish (a deadline, a lost process, an error)
    report: str = ""               # a hidden test's printed report (for the feedback; not kept in the log)

    @property
    def flagged(self) -> bool:
        """Scored higher in the kernel than in a re-check that ran to the end: the lower score counts."""
        return (self.verified and self.out_of_process is not None and self.in_kernel is not None
                and self.in_kernel > self.out_of_process + 1e-6)

    @property
    def unverified(self) -> bool:
        """The re-check could not finish (it failed closed): the lower score counts (a hidden test, which only ever
        runs here, scores 0), and the report lists it for review, apart from the flagged tests."""
        return not self.verified

    @property
    def higher_outside(self) -> bool:
        """Scored more out of process than in the kernel. Honest code scores the same both ways, so this says
        the kernel side of grading failed (a module the hidden tests import is missing in the sandbox, a kernel
        that cannot start) or the re-check saw less than the kernel did: a fault of the grading, not the student."""
        return (self.verified and self.out_of_process is not None and self.in_kernel is not None
                and self.out_of_process > self.in_kernel + 1e-6)

    @property
    def hidden(self) -> bool:
        """A hidden test: never run in the kernel, its only score is this one."""
        return self.in_kernel is None

    @property
    def counts(self) -> float:
        """The score this test ends with: a hidden test's own; for a visible test the kernel's, unless the re-check
        scored it lower or could not finish (then the lower one)."""
        if not self.verified:
            return min(self.in_kernel or 0.0, self.out_of_process or 0.0) if not self.hidden else 0.0
        if self.hidden:
            return self.out_of_process or 0.0
        return min(self.in_kernel, self.out_of_process) if self.flagged else self.in_kernel


class HiddenTestUnreadable(ValueError):
    """A hidden test cell of an instructor notebook that is not in the one form the re-check runs: an error of the
    course, not of a student (the pre-flight stops on it before anyone is graded)."""


def hidden_tests(source_notebook: dict[str, Any]) -> list[HiddenTest]:
    """Every hidden test cell of an instructor notebook, read from its imports and its last line; one it cannot read
    is an error (:class:`HiddenTestUnreadable`), never a test silently left out."""
    found = []
    for cell in source_notebook["cells"]:
        if not is_hidden_test(cell):
            continue
        meta, source = nbgrader_meta(cell), text(cell)
        tree = ast.parse(source)
        modules = {alias.asname or alias.name: node.module for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grader.content.hidden.")
                   for alias in node.names}
        last = tree.body[-1] if tree.body else None
        call = last.value if isinstance(last, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in modules
                and call.args and isinstance(call.args[0], ast.Name)):
            raise HiddenTestUnreadable(
                f"hidden test cell {meta.get('grade_id')!r} cannot be re-checked: after `from grader.content.hidden."
                "<module> import grade_<name>`, its last line must call it on the student's name, as in "
                "`grade_one_hot(one_hot, points=2)` (see any solutions/ notebook)")
        points = next((kw.value.value for kw in call.keywords if kw.arg == "points"
                       and isinstance(kw.value, ast.Constant)), meta.get("points", 0))
        if float(points) != float(meta.get("points", 0)):
            # nbgrader's maximum is the metadata's, the score is scaled by the call's: both must be the one number.
            raise HiddenTestUnreadable(
                f"hidden test cell {meta.get('grade_id')!r} is worth {meta.get('points', 0):g} points in its "
                f"metadata but its last line passes points={points:g}: make them the same number")
        found.append(HiddenTest(meta["grade_id"], str(modules[call.func.id]).removeprefix("grader.content.hidden."),
                                call.func.id, call.args[0].id, float(points)))
    return found


def fatal_sources(autograded: Any) -> set[str]:
    """Sources of the cells that killed or hung the kernel during nbgrader's run (not run again here)."""
    from grader.compat.execute import INCIDENT_ERRORS

    return {"".join(cell.get("source", "")) for cell in autograded.get("cells", [])
            if any(o.get("ename") in INCIDENT_ERRORS for o in cell.get("outputs", []))}


def replay(autograded: dict[str, Any], source_notebook: dict[str, Any], skip: set[str] = frozenset()
           ) -> tuple[dict[str, list[str]], list[str]]:
    """The student's code as the kernel ran it: for each test cell, the code cells between the previous test and it
    (every code cell but the test cells, the ``experiment`` cells and ``skip``), and the cells after the last test."""
    test_ids = {grade_id(c) for c in source_notebook["cells"] if is_test_cell(c)}
    before: dict[str, list[str]] = {}
    pending: list[str] = []
    for cell in autograded.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if grade_id(cell) in test_ids:
            before.setdefault(str(grade_id(cell)), pending)
            pending = []
            continue
        if "experiment" in cell.get("metadata", {}).get("tags", []):
            continue
        if text(cell) not in skip:
            pending.append(text(cell))
    return before, pending


def score_remotely(test: HiddenTest, session: Session) -> tuple[float, str, str]:
    """The hidden test's score with the student's function or class living in the sandbox, what failed, and the
    report it printed (what the student reads in the feedback)."""
    grade = getattr(importlib.import_module(f"grader.content.hidden.{test.module}"), test.function)
    report = io.StringIO()
    with rng_kept(), contextlib.redirect_stdout(report):
        earned = float(grade(session.subject(test.name), points=test.points))
    failed = [line.strip() for line in _failures(report.getvalue())]
    return earned, "; ".join(failed)[:1500], report.getvalue()


@contextlib.contextmanager
def rng_kept() -> Iterator[None]:
    """A hidden test runs beside the notebook, not in it (the kernel never runs it): the random generators are where
    they were before it, for the cells and tests after it."""
    import numpy as np
    import torch

    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(numpy_state)


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
    """The verdicts as the integrity log keeps them (reports are in the graded notebook, not here)."""
    return json.dumps([{k: v for k, v in verdict.__dict__.items() if k != "report"} for verdict in verdicts]).encode()


def loads(data: bytes) -> list[Verdict]:
    return [Verdict(**v) for v in json.loads(data)]


# ------------------------------------------------------------------------------------------------ in the worker

CHILD_SECONDS = 30   # a re-check process's own start, beyond its cells and calls


def recheck_notebook(zygote: Zygote, work_root: Path, source: dict[str, Any], autograded: Any,
                     limits: dict[str, int], cell_seconds: int) -> list[Verdict]:
    """Re-check every test of one graded notebook out of process: one verdict per test, in notebook order.

    The list of tests is the instructor's notebook's. The student's cells are those nbgrader ran (the autograded
    notebook's, locked cells restored), each given the kernel's per-cell limit; every test runs here, in the
    grader's process, against stand-ins for what the student defined. The whole exchange has one deadline, the time
    the kernel would have allowed the same cells and tests; whatever fails on the way fails closed (the test is
    *unverified*: the lower score counts)."""
    in_kernel = in_kernel_scores(autograded)
    before, after = replay(autograded, source, fatal_sources(autograded))
    ran = [grade_id(c) for c in autograded.get("cells", [])]
    tests = sorted(notebook_tests(source), key=lambda t: (t.grade_id not in before,
                                                          ran.index(t.grade_id) if t.grade_id in ran else 0))
    cells = sum(map(len, before.values())) + len(after)
    deadline = time.monotonic() + CHILD_SECONDS + cell_seconds * (cells + max(1, len(tests)))
    imports = instructor_imports(source)
    verdicts: list[Verdict] = []
    # The generators this process has after the notebook are put back: nothing passes to the next student's.
    with rng_kept(), recheck_process(zygote, work_root, limits, cell_seconds, deadline) as session:
        for test in tests:
            # The cells before this test run first, as in the kernel: a later cell cannot change what it sees. (A
            # test the graded notebook lacks comes after all of them.)
            if test.grade_id in before:
                pending = before[test.grade_id]
            else:
                pending, after = after, []
            session.run_cells(pending, cell_seconds)
            verdicts.append(_verdict(test, session, imports, in_kernel))
            if isinstance(test, VisibleTest):
                # In the kernel the test cell ran in the notebook's namespace: what it defines (`got`, `E_small`),
                # later cells of the student's may use. Run it there too, for that alone.
                with contextlib.suppress(RemoteError):
                    session.run_cells([test.source], cell_seconds, rng=False)
    return verdicts


def notebook_tests(source: dict[str, Any]) -> list[Test]:
    """Every autograded test of an instructor notebook, hidden and visible, in notebook order."""
    tests: list[Test] = [*hidden_tests(source), *(VisibleTest(g, src, pts) for g, (src, pts)
                                                  in visible_tests(source).items())]
    order = [grade_id(c) for c in source["cells"]]
    return sorted(tests, key=lambda t: order.index(t.grade_id) if t.grade_id in order else len(order))


def _verdict(test: Test, session: Session, imports: dict[str, Any], in_kernel: dict[str, float | None]) -> Verdict:
    """One test re-checked; an error on this side or a lost, late or malformed answer makes it unverified."""
    grade_id, name, points = test.grade_id, test.name, test.points
    kernel = None if isinstance(test, HiddenTest) else in_kernel.get(grade_id)
    report = ""
    try:
        if isinstance(test, HiddenTest):
            score, reason, report = score_remotely(test, session)
        else:
            failure = run_visible_test(test.source, imports, session)
            score, reason = (0.0 if failure else points), failure
    except Exception as err:  # fails closed: what could not be verified does not score
        score, reason = 0.0, f"{type(err).__name__}: {str(err)[:300]}"
        session.lost = session.lost or f"the re-check failed on the grader's side ({reason})"
    if session.lost:
        return Verdict(grade_id, name, kernel, score, points,
                       f"could not be verified: {session.lost}" + (f"; {reason}" if reason else ""), verified=False)
    return Verdict(grade_id, name, kernel, score, points, reason, report=report)


@contextlib.contextmanager
def recheck_process(zygote: Zygote, work_root: Path, limits: dict[str, int], cell_seconds: int, deadline: float,
                    cells: list[str] | None = None) -> Iterator[Session]:
    """A fresh re-check process working in a fresh folder of ``work_root``, and the session to it (which runs
    ``cells`` first, if given). Nothing of it outlasts ``deadline``.

    The process answers on one end of a socket pair handed over with the request (no path it could replace);
    afterwards it is killed with everything it started, before the caller reads anything else."""
    folder = Path(tempfile.mkdtemp(dir=work_root))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        child = zygote.spawn("subject", connection=theirs, cwd=str(folder), limits=limits,
                             env={"PATH": os.environ.get("PATH", "")}, cell_seconds=cell_seconds)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    session = Session(ours, deadline, time.monotonic() + CHILD_SECONDS, call_seconds=cell_seconds)
    if cells:
        session.run_cells(cells, cell_seconds)
    try:
        yield session
    finally:
        session.close()
        child.kill()
        zygote.clean()


def instructor_imports(source_notebook: dict[str, Any]) -> dict[str, Any]:
    """The modules the instructor's notebook imports outside answer and test cells (``np``, ``torch``, ``nn``, …),
    imported here: what a visible test may use besides the student's names."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for cell in source_notebook["cells"]:
        if cell.get("cell_type") != "code" or is_answer(cell) or is_graded(cell):
            continue
        try:
            tree = ast.parse("".join(cell.get("source", "")))
        except SyntaxError:
            continue
        statements = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                      and not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grader"))]
        if statements:
            exec(compile(ast.Module(statements, []), "<instructor imports>", "exec"), namespace)  # trusted source
    return namespace


def free_names(source: str) -> set[str]:
    """Names a cell reads but never binds itself (nor are builtins): what it expects the notebook to define."""
    tree = ast.parse(source)
    read, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return read - bound - set(dir(builtins))


# Warnings the kernel does not show for code outside the notebook (Python's default filters).
_UNSHOWN = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def run_visible_test(source: str, imports: dict[str, Any], session: Session) -> str:
    """A visible test cell run here, on stand-ins for the student's names: "" if it passes, else what failed.

    Judged as nbgrader judges it in the kernel: it fails if it raises, or if it writes to stderr (a warning shown
    included), which nbgrader scores 0."""
    namespace = dict(imports)
    for name in sorted(free_names(source) - namespace.keys()):
        with contextlib.suppress(NameError):
            namespace[name] = session.subject(name)
    import torch

    out, err = io.StringIO(), io.StringIO()
    default_dtype = torch.get_default_dtype()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        # The test's own tensors take the default dtype the student's cells left, as in the kernel.
        torch.set_default_dtype(session.default_dtype)
        try:
            exec(compile(source, "<visible test>", "exec"), namespace)  # the instructor's test, on plain data
        except RemoteError:
            raise
        except Exception as failure:
            return f"{type(failure).__name__}: {' '.join(str(failure).split())[:500]}"
        finally:
            torch.set_default_dtype(default_dtype)
    shown = [w for w in caught if not issubclass(w.category, _UNSHOWN)]
    if err.getvalue() or shown:
        text = err.getvalue().strip() or f"{shown[0].category.__name__}: {shown[0].message}"
        return f"the test cell wrote to stderr, which nbgrader scores 0: {text[:400]}"
    return ""


def visible_tests(source_notebook: dict[str, Any]) -> dict[str, tuple[str, float]]:
    """grade id -> (source, points) of every visible (not hidden) autograded test cell of an instructor notebook."""
    return {grade_id(cell): (text(cell), float(nbgrader_meta(cell).get("points", 0)))
            for cell in source_notebook["cells"] if is_test_cell(cell) and not is_hidden_test(cell)}


def apply_verdicts(autograded: Any, verdicts: list[Verdict]) -> int:
    """Give every test the score that counts, in the autograded notebook, where nbgrader then reads it as the cell's
    partial credit: each hidden test's cell gets its report and score (it never ran in the kernel); a flagged or
    unverified visible test's cell says why and ends with the lower score. Returns how many cells changed."""
    from nbformat import from_dict

    by_id = {v.grade_id: v for v in verdicts}
    changed = 0
    for cell in autograded.get("cells", []):
        verdict = by_id.get(grade_id(cell))
        if verdict is None or not (verdict.hidden or verdict.flagged or verdict.unverified):
            continue
        score = verdict.counts
        if verdict.hidden and verdict.verified:
            kept, note = [], verdict.report
        else:
            kept = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream"
                    and o.get("name") == "stdout"]
            note = _integrity_note(verdict, score)
        cell["outputs"] = [*kept, from_dict({"output_type": "stream", "name": "stdout", "text": note}),
                           from_dict({"output_type": "execute_result", "execution_count": cell.get("execution_count"),
                                      "metadata": {}, "data": {"text/plain": f"{score:g}"}})]
        changed += 1
    return changed


def _integrity_note(verdict: Verdict, score: float) -> str:
    """What a lowered test's cell says to the student."""
    if verdict.flagged:
        return (f"\n⚠ Integrity check: this test earned {verdict.in_kernel:g} of {verdict.max_points:g} points in "
                f"your notebook's kernel but {score:g} when `{verdict.name}` was checked again in a separate, "
                f"clean process. The lower score counts. What failed there: {verdict.reason or '—'}\n")
    where = (f"this test earned {verdict.in_kernel:g} of {verdict.max_points:g} points in your notebook's kernel, "
             "but checking" if not verdict.hidden else "checking")
    return (f"\n⚠ Integrity check: {where} `{verdict.name}` in a separate, clean process could not be completed, so "
            f"{score:g} of {verdict.max_points:g} counts until your instructor reviews it. "
            f"{verdict.reason.removeprefix('could not be verified: ')}\n")
