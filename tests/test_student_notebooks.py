"""A student's notebook runs top to bottom where only numpy, torch and matplotlib exist (plain Jupyter,
Binder, Colab): the release with the answers filled in is executed in a kernel that cannot import grader."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader.project import assignments
from grader.samples.submissions import fill

# A kernel for which `import grader` fails, as on a student's machine.
KERNEL_WITHOUT_GRADER = [
    sys.executable, "-c",
    "import sys; sys.modules['grader'] = None\n"
    "from ipykernel import kernelapp; kernelapp.launch_new_instance()",
    "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR",
]

CELL_LIMIT_S = 1800
NOTEBOOKS = [(a, nb) for a in assignments() for nb in a.notebooks]
Executed = nbformat.NotebookNode | Exception   # an executed notebook, or what its execution raised


@pytest.fixture(scope="module")
def student_kernel(tmp_path_factory: pytest.TempPathFactory) -> str:
    spec_dir = tmp_path_factory.mktemp("jupyter") / "kernels" / "student"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps(
        {"argv": KERNEL_WITHOUT_GRADER, "display_name": "student (no grader)", "language": "python"}))
    os.environ["JUPYTER_PATH"] = f"{spec_dir.parent.parent}{os.pathsep}{os.environ.get('JUPYTER_PATH', '')}"
    return "student"


@pytest.fixture(scope="module")
def executed(student_kernel: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Executed]:
    """Every completed notebook, executed top to bottom in the student kernel: notebook -> the executed notebook, or
    what its execution raised. Each notebook has a kernel of its own, as before; as many run at once as there are
    cores, since one kernel running small cells leaves the other cores idle."""
    from grader.grading.engine import default_jobs

    async def run(assignment, notebook: str, slots: asyncio.Semaphore) -> Executed:
        nb = fill(assignment, notebook) if assignment.graded else nbformat.read(
            str(assignment.source_dir / f"{notebook}.ipynb"), as_version=4)
        # A generous limit: this test proves the notebook runs, not how fast (a busy machine must not fail it). How
        # fast is `make bench`'s job, which checks every notebook against its budget in the README.
        client = NotebookClient(nb, kernel_name=student_kernel, timeout=CELL_LIMIT_S,
                                resources={"metadata": {"path": str(tmp_path_factory.mktemp(notebook))}})
        async with slots:
            try:
                await client.async_execute()  # raises CellExecutionError, naming the cell, if anything fails
            except Exception as error:   # handed to the notebook's own test, which raises it
                return error
        return nb

    async def run_all() -> list[Executed]:
        slots = asyncio.Semaphore(default_jobs())
        return await asyncio.gather(*(run(assignment, notebook, slots) for assignment, notebook in NOTEBOOKS))

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)  # a student's run: experiments included
        results = asyncio.run(run_all())
    return {notebook: result for (_, notebook), result in zip(NOTEBOOKS, results, strict=True)}


@pytest.mark.parametrize("notebook", [nb for _, nb in NOTEBOOKS])
def test_completed_student_notebook_runs_without_grader(
    executed: dict[str, Executed], notebook: str
) -> None:
    nb = executed[notebook]
    if isinstance(nb, Exception):
        raise nb
    streams = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"]
    assert not [o.text for o in streams if o.name == "stderr"], "the notebook writes to stderr"
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert images, f"{notebook} shows no plot"


def test_the_student_kernel_really_cannot_import_grader(student_kernel: str, tmp_path: Path) -> None:
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import grader.content.hidden.lookup")])
    with pytest.raises(CellExecutionError, match=r"ModuleNotFoundError|ImportError"):
        NotebookClient(nb, kernel_name=student_kernel, resources={"metadata": {"path": str(tmp_path)}}).execute()
