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

Exercises whose graded object is a class or takes a module (``nn.Module`` subclasses, ``count_parameters``) cannot
cross as plain data; they are listed in :data:`KERNEL_ONLY` and keep their in-kernel score (the report says so).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.recheck_server import decode, encode, receive, send

if TYPE_CHECKING:
    from grader.warm import Zygote

# grade_* functions whose subject is a class, or takes or returns a module: checked in the kernel only.
KERNEL_ONLY = frozenset({
    "grade_embedding_module", "grade_linear_from_embedding", "grade_learned_positions", "grade_factorized_embedding",
    "grade_tiny_lm", "grade_count_parameters", "grade_embedding_function",
})
CALL_SECONDS = 60        # one call of a student function
START_SECONDS = 120      # running the student cells before the first call


@dataclass(frozen=True)
class HiddenTest:
    """A hidden test cell of the source notebook: ``grade_fn(name, points=points)`` from ``grader.hidden.module``."""

    grade_id: str
    module: str
    function: str
    name: str
    points: float

    @property
    def rechecked(self) -> bool:
        return self.function not in KERNEL_ONLY


@dataclass(frozen=True)
class Verdict:
    """The re-check of one hidden test: its score out of process and, when lower than in the kernel, why."""

    grade_id: str
    name: str
    in_kernel: float | None
    out_of_process: float | None   # None: not re-checked (KERNEL_ONLY)
    max_points: float
    reason: str = ""

    @property
    def flagged(self) -> bool:
        return (self.out_of_process is not None and self.in_kernel is not None
                and self.in_kernel > self.out_of_process + 1e-6)


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


# ------------------------------------------------------------------------------------------------ the client


class RemoteError(Exception):
    """An exception the student's code raised in the sandbox that has no builtin counterpart here."""


class Connection:
    """The grader's end of the socket to one re-check process."""

    def __init__(self, path: Path, deadline: float) -> None:
        self.conn: socket.socket | None = None
        self.tests: dict[str, str] = {}
        self.lost = ""
        while time.monotonic() < deadline:
            try:
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                conn.close()
                time.sleep(0.05)
        else:
            self.lost = f"the student cells did not finish within {START_SECONDS} s"
            return
        conn.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            hello = receive(conn)
        except (OSError, ValueError) as err:
            hello, self.lost = None, f"the re-check process failed to start ({err!r})"
        if not hello:
            self.lost = self.lost or "the re-check process ended while running the student cells"
            conn.close()
            return
        conn.settimeout(CALL_SECONDS)
        self.conn = conn
        self.tests = {str(k): str(v) for k, v in (hello.get("tests") or {}).items()}

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        import torch

        if self.conn is None:
            raise RemoteError(f"not re-checked: {self.lost}")
        message = {"fn": name, "args": encode(list(args)), "kwargs": encode(dict(kwargs)),
                   "torch_rng": encode(torch.get_rng_state())}
        try:
            send(self.conn, message)
            reply = receive(self.conn)
        except (OSError, ValueError) as err:
            reply = None
            self.lost = f"the student's {name}() did not answer within {CALL_SECONDS} s or broke the connection " \
                        f"({type(err).__name__})"
        if reply is None:
            self.close()
            self.lost = self.lost or f"the re-check process ended during a call of {name}()"
            raise RemoteError(self.lost)
        if reply.get("missing"):
            raise NameError(f"name '{name}' is not defined")
        if "error" in reply:
            raise RuntimeError(f"re-check protocol: {reply['error']}")
        if "torch_rng" in reply:
            with contextlib.suppress(Exception):
                torch.set_rng_state(decode(reply["torch_rng"]))
        _write_back(args, reply.get("args_after") or [])
        if "raised" in reply:
            raise _exception(reply["raised"])
        return decode(reply["value"])

    def defined(self, name: str) -> bool | None:
        """Whether ``name`` exists among the student's definitions out of process (None: could not ask)."""
        if self.conn is None:
            return None
        try:
            send(self.conn, {"fn": name, "probe": True})
            reply = receive(self.conn)
        except (OSError, ValueError):
            return None
        return bool(reply.get("defined")) if reply else None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
            self.conn = None


def _exception(raised: dict[str, Any]) -> BaseException:
    """The student's exception as the nearest builtin Exception class (never SystemExit/KeyboardInterrupt)."""
    message = str(raised.get("message", ""))
    for name in raised.get("types", []):
        module, _, qualname = str(name).rpartition(".")
        cls = getattr(builtins, qualname, None) if module == "builtins" else None
        if isinstance(cls, type) and issubclass(cls, Exception):
            return cls(message)
    first = str((raised.get("types") or ["?"])[0])
    return RemoteError(f"{first}: {message}")


def _write_back(args: tuple[Any, ...], after: list[Any]) -> None:
    """Arguments the student's function changed in place (e.g. an SGD step) change here too."""
    import numpy as np
    import torch

    for arg, spec in zip(args, after, strict=False):
        if spec is None:
            continue
        try:
            new = decode(spec)
        except ValueError:
            continue
        if type(arg) is np.ndarray and type(new) is np.ndarray and new.shape == arg.shape:
            np.copyto(arg, new.astype(arg.dtype, copy=False))
        elif isinstance(arg, torch.Tensor) and isinstance(new, torch.Tensor) and new.shape == arg.shape:
            with torch.no_grad():
                arg.copy_(new.to(arg.dtype))


class RemoteFunction:
    """What a ``grade_*`` function receives in place of the student's function: a call goes to the sandbox."""

    def __init__(self, connection: Connection, name: str) -> None:
        self.connection = connection
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.connection.call(self.__name__, args, kwargs)

    def __repr__(self) -> str:
        return f"<the student's {self.__name__}, run in the re-check sandbox>"


def score_remotely(test: HiddenTest, connection: Connection) -> tuple[float, str]:
    """The hidden test's score with the student's function called in the sandbox, and what failed (✗ lines)."""
    grade = getattr(importlib.import_module(f"grader.hidden.{test.module}"), test.function)
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        earned = float(grade(RemoteFunction(connection, test.name), points=test.points))
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
    verdicts = [_kernel_only(t, in_kernel.get(t.grade_id), autograded) for t in tests if not t.rechecked]
    remote = [t for t in tests if t.rechecked]
    visible = visible_tests(source)
    for leftover in work.iterdir():
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    path = work / "calls.sock"
    cells = student_cells(submitted, source, fatal_sources(autograded))
    child = zygote.spawn("recheck", cells=cells, tests=[[g, src] for g, (src, _) in visible.items()],
                         plain=[t.name for t in remote],
                         socket=str(path), cwd=str(work),
                         limits=limits, env={"PATH": os.environ.get("PATH", "")},
                         cell_seconds=CALL_SECONDS)
    connection = Connection(path, time.monotonic() + START_SECONDS)
    try:
        for test in remote:
            score, reason = score_remotely(test, connection)
            if connection.lost and not reason:
                reason = connection.lost
            verdicts.append(Verdict(test.grade_id, test.name, in_kernel.get(test.grade_id), score, test.points,
                                    reason))
        for grade_id, (_, points) in visible.items():
            failure = connection.tests.get(grade_id, connection.lost or "not run")
            verdicts.append(Verdict(grade_id, grade_id.removesuffix("_visible"), in_kernel.get(grade_id),
                                    0.0 if failure else points, points, failure))
        verdicts = [_cross_check(v, connection, verdicts) for v in verdicts]
    finally:
        connection.close()
        child.kill()
    order = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in source["cells"]]
    return sorted(verdicts, key=lambda v: order.index(v.grade_id) if v.grade_id in order else len(order))


REPORT = re.compile(r"— hidden tests: \d+ of \d+ properties hold, ([\d.]+) of ([\d.]+) points")


def _kernel_only(test: HiddenTest, in_kernel: float | None, autograded: Any) -> Verdict:
    """A test that cannot be re-checked out of process: at least its printed report must match its score.

    ``grader.properties.score`` prints "… hidden tests: N of M properties hold, E of P points" and returns E; a
    cell that earned points without that line, or with another E, did not run the test as written.
    """
    note = "checked in the kernel only: its subject is a class or a module, which cannot cross the sandbox"
    if not in_kernel:
        return Verdict(test.grade_id, test.name, in_kernel, None, test.points, note)
    cell = next((c for c in autograded.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                 == test.grade_id), None)
    text = "".join(o.get("text", "") for o in (cell.get("outputs", []) if cell else [])
                   if o.get("output_type") == "stream")
    reports = REPORT.findall(text)
    if len(reports) == 1 and abs(float(reports[0][0]) - in_kernel) < 1e-6:
        return Verdict(test.grade_id, test.name, in_kernel, None, test.points, note)
    return Verdict(test.grade_id, test.name, in_kernel, 0.0, test.points,
                   "the hidden test's report is missing or does not match its score: the test did not run as "
                   "written (test cells rewritten, or the checker patched)")


def _cross_check(verdict: Verdict, connection: Connection, verdicts: list[Verdict]) -> Verdict:
    """A kernel-only test that earned points is flagged when its subject does not exist out of process (e.g. it was
    imported from the grader's reference) or when its visible test passed in the kernel but fails out of process."""
    if verdict.out_of_process is not None or not verdict.in_kernel:
        return verdict
    reason = ""
    if connection.defined(verdict.name) is False:
        reason = (f"`{verdict.name}` is not defined when the student's cells run in a clean process (does it come "
                  "from the grader's own files?)")
    visible = next((v for v in verdicts if v.grade_id == verdict.grade_id.removesuffix("_hidden") + "_visible"), None)
    if not reason and visible is not None and visible.flagged:
        reason = f"its visible test passed in the kernel but not in a clean process ({visible.reason})"
    if not reason:
        return verdict
    return Verdict(verdict.grade_id, verdict.name, verdict.in_kernel, 0.0, verdict.max_points, reason)


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
