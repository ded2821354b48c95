"""A student's notebook runs top to bottom where only numpy, torch and matplotlib exist (plain Jupyter,
Binder, Colab): the release with the answers filled in is run as a student runs it — in JupyterLab, in a real browser
(Debian's Chromium, headless), Run All then nbgrader's Validate — with a kernel that cannot import grader. Screenshots
of each notebook after its run and its Validate are kept under pytest's temporary folder (printed)."""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import nbformat
import pytest
from nbclient import NotebookClient

from grader.project import assignments
from grader.samples.submissions import fill
from tests.browser import CHROMIUM_ARGS, TOKEN, chromium_path, jupyter_lab, open_notebook, run_all, save, validate

# A kernel for which `import grader` fails, as on a student's machine.
KERNEL_WITHOUT_GRADER = [
    sys.executable, "-c",
    "import sys; sys.modules['grader'] = None\n"
    "from ipykernel import kernelapp; kernelapp.launch_new_instance()",
    "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR",
]

CELL_LIMIT_S = 1800
NOTEBOOKS = [(a, nb) for a in assignments() for nb in a.notebooks]


@pytest.fixture(scope="module")
def student_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    spec_dir = tmp_path_factory.mktemp("jupyter") / "kernels" / "student"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps(
        {"argv": KERNEL_WITHOUT_GRADER, "display_name": "student (no grader)", "language": "python"}))
    with pytest.MonkeyPatch.context() as monkeypatch:   # for this module's tests only
        monkeypatch.setenv("JUPYTER_PATH", f"{spec_dir.parent.parent}{os.pathsep}{os.environ.get('JUPYTER_PATH', '')}")
        yield "student"


@dataclass
class Ran:
    """One notebook as a student ran it in JupyterLab: the notebook it saved, what Validate said, what the browser's
    console reported."""
    notebook: nbformat.NotebookNode
    validated: str
    problems: list[str]


@pytest.fixture(scope="module")
def executed(student_kernel: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran | Exception]:
    """Every completed notebook run as a student runs it: in JupyterLab (a real ``jupyter lab`` on loopback, whose
    Python kernel cannot import grader), in headless Chromium — open, Run > Run All Cells, File > Save, nbgrader's
    Validate button — two notebooks at once (one browser per core). notebook -> what ran, or what went wrong."""
    from playwright.sync_api import sync_playwright

    from grader.grading.engine import default_jobs

    chromium = chromium_path()
    root = tmp_path_factory.mktemp("student")
    for assignment, notebook in NOTEBOOKS:
        nb = fill(assignment, notebook) if assignment.graded else nbformat.read(
            str(assignment.source_dir / f"{notebook}.ipynb"), as_version=4)
        (root / assignment.name).mkdir(exist_ok=True)
        nbformat.write(nb, str(root / assignment.name / f"{notebook}.ipynb"))
    state = tmp_path_factory.mktemp("student-jupyter")
    # The server's "python3" kernel is the student one (JUPYTER_PATH is searched before the environment's own
    # kernels): every notebook, and Validate, runs where grader cannot be imported. Asked of the server below.
    first = tmp_path_factory.mktemp("student-jupyter-path")
    (first / "kernels" / "python3").mkdir(parents=True)
    (first / "kernels" / "python3" / "kernel.json").write_text(json.dumps(
        {"argv": KERNEL_WITHOUT_GRADER, "display_name": "Python 3 (ipykernel)", "language": "python"}))
    shots = tmp_path_factory.mktemp("student-screenshots")
    print(f"screenshots: {shots}")
    work: queue.Queue = queue.Queue()
    for item in NOTEBOOKS:
        work.put(item)
    results: dict[str, Ran | Exception] = {}

    def student(base: str) -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                while True:
                    try:
                        assignment, notebook = work.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        results[notebook] = _run_in_lab(browser, base, root, assignment.name, notebook, shots)
                    except Exception as error:   # handed to the notebook's own test, which raises it
                        results[notebook] = error
            finally:
                browser.close()

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)  # a student's run: experiments included
        with jupyter_lab(root, state, jupyter_path=first) as base:
            with urlopen(f"{base}/api/kernelspecs?token={TOKEN}", timeout=30) as answer:
                specs = json.load(answer)["kernelspecs"]
            assert specs["python3"]["spec"]["argv"] == KERNEL_WITHOUT_GRADER, specs["python3"]["spec"]["argv"]
            threads = [threading.Thread(target=student, args=(base,)) for _ in range(default_jobs())]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    return results


def _run_in_lab(browser, base: str, root: Path, folder: str, notebook: str,  # type: ignore[no-untyped-def]
                shots: Path) -> Ran:
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).hostname == "127.0.0.1"
                  else (problems.append(f"asked for {route.request.url}"), route.abort()))
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.on("console", lambda m: problems.append(f"console: {m.text[:300]}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    try:
        # A JupyterLab workspace of its own, reset: the server's default one would reopen the notebooks before it.
        open_notebook(page, f"{base}/lab/workspaces/{notebook}/tree/{folder}/{notebook}.ipynb?reset&token={TOKEN}")
        run_all(page, CELL_LIMIT_S, notebook)
        page.screenshot(path=str(shots / f"{notebook}-1-ran.png"))
        save(page)
        said = validate(page, 600)
        page.screenshot(path=str(shots / f"{notebook}-2-validated.png"))
        return Ran(nbformat.read(str(root / folder / f"{notebook}.ipynb"), as_version=4), said, problems)
    finally:
        context.close()


@pytest.mark.parametrize("notebook", [nb for _, nb in NOTEBOOKS])
def test_completed_student_notebook_runs_in_jupyterlab_without_grader(
    executed: dict[str, Ran | Exception], notebook: str
) -> None:
    ran = executed[notebook]
    if isinstance(ran, Exception):
        raise ran
    code = [c for c in ran.notebook.cells if c.cell_type == "code"]
    errors = [f"cell {i}: {o.ename}: {o.evalue}" for i, c in enumerate(code) for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"{notebook} raised in JupyterLab: {errors}"
    assert all(c.execution_count for c in code), f"Run All left cells of {notebook} unrun"
    streams = [o for c in code for o in c.outputs if o.output_type == "stream"]
    assert not [o.text for o in streams if o.name == "stderr"], "the notebook writes to stderr"
    images = [o for c in code for o in c.outputs
              if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert images, f"{notebook} shows no plot"
    assert "Success! Your notebook passes all the tests." in ran.validated, f"Validate said: {ran.validated}"
    assert not ran.problems, "\n".join(ran.problems)


def test_the_student_kernel_really_cannot_import_grader(student_kernel: str, tmp_path: Path) -> None:
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import grader.content.hidden.lookup")])
    with pytest.raises(CellExecutionError, match=r"ModuleNotFoundError|ImportError"):
        NotebookClient(nb, kernel_name=student_kernel, resources={"metadata": {"path": str(tmp_path)}}).execute()
