"""nbgrader's ``Execute`` preprocessor, made to survive the student: a dead or stuck kernel costs one cell, not all.

Stock nbgrader gives a notebook zero points if its kernel dies (``os._exit``, the memory limit, a segfault in a
C extension): nbclient raises ``DeadKernelError`` and nbgrader drops the whole submission. A cell that runs past the
timeout and swallows the ``KeyboardInterrupt`` leaves the kernel busy, so every later cell times out too.

:class:`ResilientExecute` handles both the same way. The cell gets an error output that says what happened
("the kernel was killed at the 3 GB memory limit while this cell ran"), so a test cell scores zero as nbgrader would
score any error; then the kernel is restarted, the cells before it that define things (every code cell but the test
cells) are run again with their output discarded, and grading goes on with the next cell. Every other cell keeps
the credit it earns.

Configured in ``nbgrader_config.py`` in place of ``Execute`` in ``Autograde.autograde_preprocessors``, together
with :class:`LimitOutputSize`, which caps the size (not only the line count) of each cell's output.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader.preprocessors import Execute, LimitOutput
from traitlets import Bool, Integer

from grader.cells import is_hidden_test, is_test_cell
from grader.compat import require_versions

require_versions(__name__, "ResilientExecute overrides nbgrader's Execute.preprocess/preprocess_cell, nbclient's "
                 "NotebookClient._async_handle_timeout, execute_cell and its km/kc and jupyter_client's "
                 "restart_kernel; LimitOutputSize wraps nbgrader's LimitOutput: read those against the new "
                 "versions and run tests/test_hostile.py and tests/test_grading.py",
                 ("nbgrader", "nbclient", "jupyter_client"))

KILLED_BY = {
    "SIGKILL": "was killed (SIGKILL): usually the memory limit, or too many processes",
    "SIGXCPU": "used up its CPU-time limit",
    "SIGSEGV": "crashed (segmentation fault)",
    "SIGABRT": "aborted (SIGABRT): often a memory allocation that failed at the memory limit",
    "SIGBUS": "crashed (bus error)",
    "SIGXFSZ": "wrote a file larger than the file-size limit",
}


# The errors ResilientExecute gives a cell that killed or hung the kernel (read by grader.integrity.recheck and the
# report).
INCIDENT_ERRORS = ("KernelDied", "CellTimeoutError", "NotRun")


# What a hidden test cell holds after the kernel has run, until the grader's side fills in its report and score: an
# error, so that a hidden test whose result never arrives scores 0 (fails closed).
GRADED_OUTSIDE = "GradedOutsideTheKernel"


class ResilientExecute(Execute):
    """``Execute`` that restarts a dead or stuck kernel, replays the definitions and goes on.

    With ``hidden_tests_in_kernel`` off (how grading workers run it), hidden test cells are not sent to the kernel at
    all: the student's process never sees their code or the reference they import, and the grader computes their result
    on its own side (:mod:`grader.integrity.recheck`). Plain ``nbgrader autograde`` keeps nbgrader's behaviour.
    """

    max_restarts = Integer(5, help="kernel restarts per notebook before giving up on the rest of it").tag(config=True)
    hidden_tests_in_kernel = Bool(True, help="run hidden test cells in the student's kernel (nbgrader's way); off, "
                                             "they are left to the grader's side").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> Any:
        import time

        self._restarts = 0
        self._timed_out = False
        self._fatal: set[int] = set()   # cells that killed or hung the kernel: never run again
        # The notebook's whole budget is what its cells may take one after the other; restarts and the replays
        # after them come out of it, so a notebook built to hang again and again costs no more.
        cells = sum(c.cell_type == "code" for c in nb.cells)
        self._deadline = time.monotonic() + (self.timeout or 120) * max(1, cells) + self.startup_timeout
        return super().preprocess(nb, resources, km)

    def _out_of_time(self) -> bool:
        import time

        return time.monotonic() > self._deadline

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> Any:
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        if self._restarts > self.max_restarts or self._out_of_time():
            if cell.cell_type == "code":
                why = ("the kernel died or hung too often in this notebook" if self._restarts > self.max_restarts
                       else "the notebook used up the time its cells may take together")
                cell.outputs = [self._error("NotRun", f"not run: {why}")]
            return cell, resources
        self._timed_out = False
        if not self.hidden_tests_in_kernel and is_hidden_test(cell):
            cell.outputs = [self._error(GRADED_OUTSIDE, "this hidden test is run by the grader, outside your "
                                                        "notebook's kernel; its report replaces this line")]
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs = [self._error("KernelDied", f"the kernel {self._death_reason()} while this cell (cell "
                                                      f"{index + 1}) ran; grading went on with a new kernel")]
            self._fatal.add(index)
            self._restart(index)
            return cell, resources
        except CellTimeoutError:  # the kernel never went idle after the interrupt (KeyboardInterrupt swallowed)
            self._timed_out = True
        if self._timed_out:
            cell.outputs = [*cell.outputs, self._error(
                "CellTimeoutError", f"this cell (cell {index + 1}) ran longer than {self.timeout} s and was "
                                    "stopped; grading went on with a new kernel")]
            self._fatal.add(index)
            self._restart(index)
        return cell, resources

    # -------------------------------------------------------------------------------------------- helpers

    def _death_reason(self) -> str:
        provisioner = getattr(self.km, "provisioner", None)
        socket_path = getattr(provisioner, "socket", "")
        if socket_path:
            from grader.grading.zygote_client import child_status

            status = child_status(socket_path, getattr(provisioner, "inner_pid", -1))
            limits = json.loads(getattr(provisioner, "limits", "{}") or "{}")
            if "signal" in status:
                reason = KILLED_BY.get(status["signal"], f"was ended by {status['signal']}")
                if status["signal"] == "SIGXCPU" and limits.get("cpu"):
                    reason += f" of {limits['cpu']} s"
                if status["signal"] in ("SIGKILL", "SIGABRT") and limits.get("memory"):
                    reason += f" ({limits['memory'] / 1024**3:g} GB)"
                return reason
            if "exit" in status:
                return f"exited with code {status['exit']} (os._exit, or a crash that ended the process)"
        return "died"

    def _restart(self, index: int) -> None:
        """New kernel; run again, silently, every code cell before ``index`` that is not a test cell and did not
        kill or hang a kernel before, within the notebook's budget."""
        self._restarts += 1
        self.log.warning("restarting the kernel after cell %d", index)
        replayed = False
        while not replayed:   # each round leaves out one more cell that killed or hung the kernel: it ends
            self._new_kernel()
            replayed = True
            for i, earlier in enumerate(self.nb.cells[:index]):
                if earlier.cell_type != "code" or is_test_cell(earlier) or i in self._fatal:
                    continue
                if self._out_of_time():
                    return
                self._timed_out = False
                try:
                    self.execute_cell(copy.deepcopy(earlier), i, store_history=False)
                except (CellTimeoutError, DeadKernelError):
                    self._timed_out = True
                if self._timed_out:  # not replayed again: start afresh without it, every earlier cell included
                    self._fatal.add(i)
                    replayed = False
                    break

    def _new_kernel(self) -> None:
        """A new kernel, and a new client for it: the client's sockets never reconnect
        (grader.compat.kernels.QuickReadyClient), so none follows a path the dead kernel's code may have replaced."""
        run_sync(self.km.restart_kernel)(now=True)
        self.kc.stop_channels()
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)

    @staticmethod
    def _error(name: str, message: str) -> NotebookNode:
        return from_dict({"output_type": "error", "ename": name, "evalue": message,
                          "traceback": [f"{name}: {message}"]})


class LimitOutputSize(LimitOutput):
    """nbgrader's ``LimitOutput`` (lines, traceback) plus a cap on the characters and bytes a cell keeps, after
    merging consecutive pieces of the same stream."""

    max_chars = Integer(100_000, help="characters of text output kept per cell (-1: no limit)").tag(config=True)
    max_data = Integer(2_000_000, help="bytes of rich output (images, HTML) kept per cell (-1: no limit)"
                       ).tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, cell_index: int) -> Any:
        if cell.cell_type != "code":
            return cell, resources
        # Consecutive pieces of one stream become one output: how a kernel happens to chunk its stdout depends on
        # timing, and the same submission must give the same autograded notebook and feedback every time.
        merged: list[NotebookNode] = []
        for output in cell.outputs:
            if (output.output_type == "stream" and merged and merged[-1].output_type == "stream"
                    and merged[-1].name == output.name):
                merged[-1].text += output.text
            else:
                merged.append(output)
        cell.outputs = merged
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        chars = data = 0
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and self.max_chars >= 0:
                room = max(0, self.max_chars - chars)
                if len(output.text) > room:
                    output.text = output.text[:room] + f"\n... output truncated at {self.max_chars} characters ...\n"
                chars += len(output.text)
            elif output.output_type in ("display_data", "execute_result") and self.max_data >= 0:
                size = sum(len(str(v)) for v in output.get("data", {}).values())
                if data + size > self.max_data:
                    note = f"... output of {size} bytes removed (limit {self.max_data}) ...\n"
                    kept.append(from_dict({"output_type": "stream", "name": "stdout", "text": note}))
                    continue
                data += size
            kept.append(output)
        cell.outputs = kept
        return cell, resources
