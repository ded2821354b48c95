"""``python -m grader distribute DIR`` gives a graded class the student's material and nothing else: the release
notebooks byte for byte, the requirements they need (a subset of the lock, same versions) for pip, conda and Binder,
and a README — no solutions, no hidden tests, no reference code, no gradebook. And those requirements are enough: a
release notebook, answered, runs top to bottom with its visible checks in a kernel that sees only the student's
packages (not the repository, not ``grader``, not nbgrader)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader.commands.distribute import NOT_IN_FREEZE, read_lock
from grader.project import COURSE, REPO, SOLUTIONS, graded_assignments
from grader.samples.submissions import fill
from tests.helpers import run_grader

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME",
           "grader.content", "from grader", "import grader")
NOTEBOOK = "01_lookup"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A distribution written by the command line, from the repository root, with a relative path."""
    dest = tmp_path_factory.mktemp("class") / "students"
    result = run_grader("distribute", os.path.relpath(dest, REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    return dest


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _pins(path: Path) -> dict[str, str]:
    """name -> version of a requirements file's pins (options such as --extra-index-url and comments skipped)."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {name.lower().replace("_", "-"): version
            for name, _, version in (line.partition("==") for line in lines if line and not line.startswith("-"))}


def test_the_distribution_holds_the_release_and_what_runs_it_and_nothing_else(dist: Path) -> None:
    notebooks = sorted(str(p.relative_to(REPO)) for p in COURSE.glob("*/*.ipynb"))
    assert _files(dist) == sorted(["README.md", "requirements.txt", "environment.yml", "binder/requirements.txt",
                                   "binder/runtime.txt", *notebooks])
    assert _files(dist / "course") == _files(COURSE), "course/ must be copied whole"
    for name in _files(COURSE):
        assert (dist / "course" / name).read_bytes() == (COURSE / name).read_bytes(), f"{name} differs from course/"
    assert (dist / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    assert (dist / "binder" / "requirements.txt").read_text() == (dist / "requirements.txt").read_text()


def _reference_lines() -> set[str]:
    """The distinctive lines (24 characters or more) of the reference implementations of the exercises: the bodies of
    grader/content/reference/*.py's functions and classes named like a function or class a solution cell defines."""
    exercises = set()
    for path in SOLUTIONS.glob("*/*.ipynb"):
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                exercises |= {n.name for n in ast.walk(ast.parse(cell.source))
                              if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    lines = set()
    for module in (REPO / "grader" / "content" / "reference").glob("*.py"):
        source = module.read_text()
        for top in ast.parse(source).body:
            if not isinstance(top, ast.FunctionDef | ast.ClassDef) or top.name not in exercises:
                continue
            for fn in (n for n in ast.walk(top) if isinstance(n, ast.FunctionDef)):
                body = fn.body[1:] if ast.get_docstring(fn) else fn.body
                for statement in body:
                    lines |= {line.strip() for line in ast.get_source_segment(source, statement).splitlines()
                              if len(line.strip()) >= 24 and not line.strip().startswith("#")}
    assert len(lines) > 150, "the reference modules were not found: the scan below would prove nothing"
    return lines


def _text_lines(path: Path) -> set[str]:
    """Every line a reader sees in a file: a notebook's cell sources and outputs, decoded from JSON; else the text."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        nb = json.loads(text)
        text = "\n".join(["".join(c["source"]) for c in nb["cells"]] +
                         [json.dumps(c.get("outputs", []), ensure_ascii=False) for c in nb["cells"]])
    return {line.strip() for line in text.splitlines()}


def test_no_answer_hidden_test_or_reference_code_is_in_the_distribution(dist: Path) -> None:
    reference = _reference_lines()
    for name in _files(dist):
        path = dist / name
        raw = path.read_text(encoding="utf-8")
        for marker in MARKERS:
            assert marker not in raw, f"{name} holds {marker!r}"
        leaked = reference & _text_lines(path)
        assert not leaked, f"{name} holds lines of the reference implementations: {sorted(leaked)[:5]}"
    assert not any(p.suffix in (".db", ".py") or p.name == "gradebook.db" for p in dist.rglob("*")), \
        "a gradebook or a Python module in the distribution"


def test_the_pins_are_the_locks_and_exclude_the_grading_tools(dist: Path) -> None:
    lock = {name: version for name, (_, version) in read_lock().items()}
    pins = _pins(dist / "requirements.txt")
    assert pins.items() <= lock.items(), f"pins not in the lock: {sorted(pins.items() - lock.items())}"
    assert {"numpy", "torch", "matplotlib", "jupyterlab", "ipykernel"} <= set(pins)
    assert not {"nbgrader", "alembic", "sqlalchemy", "pytest", "hypothesis", "ruff", "distributed", "dask",
                "tiktoken", "gensim"} & set(pins)
    conda = (dist / "environment.yml").read_text()
    assert "python=3.11" in conda and "-r " not in conda, "environment.yml must be self-contained"
    assert _pins_of_conda(conda) == pins
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in (dist / "requirements.txt").read_text()


def _pins_of_conda(text: str) -> dict[str, str]:
    items = [line.strip()[2:] for line in text.splitlines() if line.strip().startswith("- ") and "==" in line]
    return {name.lower().replace("_", "-"): version for name, _, version in (i.partition("==") for i in items)}


def test_every_import_of_the_release_is_the_standard_library_or_a_student_package(dist: Path) -> None:
    """Static half of "the requirements are enough": for all notebooks, not only the one run below; and no notebook
    imports anything of grader (or nbgrader)."""
    owners = importlib.metadata.packages_distributions()
    student = set(_pins(dist / "requirements.txt")) | NOT_IN_FREEZE
    imported = set()
    for path in (dist / "course").glob("*/*.ipynb"):
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    imported.add(node.module.split(".")[0])
    assert {"numpy", "torch", "matplotlib"} <= imported
    assert not {"grader", "nbgrader"} & imported
    for module in sorted(imported - set(sys.stdlib_module_names)):
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        assert dists & student, f"the release imports {module} ({dists or 'no distribution'}), not a student package"


def _student_site(dist: Path, into: Path) -> Path:
    """A folder holding links to exactly the files of the distributions the student's requirements install (and the
    installers pip brings, as torch asks for setuptools): the site-packages of a student's environment."""
    names = set(_pins(dist / "requirements.txt")) | NOT_IN_FREEZE
    into.mkdir()
    for name in names:
        try:
            found = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue   # pip, wheel: not needed to run anything
        base = Path(str(found.locate_file("")))
        for top in {Path(str(f)).parts[0] for f in found.files or [] if not str(f).startswith("..")}:
            if not (into / top).exists() and (base / top).exists():
                (into / top).symlink_to(base / top)
    return into


def test_a_release_notebook_runs_with_the_student_requirements_alone(dist: Path, tmp_path: Path) -> None:
    site = _student_site(dist, tmp_path / "site-packages")
    # -I: no PYTHONPATH, no current folder, no user site; -S: no site-packages (so no editable install of the
    # repository either); the student's packages are the only ones on sys.path.
    launcher = tmp_path / "kernel.py"
    launcher.write_text(f"import sys\nsys.path[:0] = [{str(site)!r}]\n"
                        "from ipykernel import kernelapp\nkernelapp.launch_new_instance()\n")
    spec = tmp_path / "kernels" / "student"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-I", "-S", str(launcher), "-f", "{connection_file}"],
        "display_name": "a student's environment", "language": "python"}))

    [assignment] = [a for a in graded_assignments() if a.name == NOTEBOOK]
    nb = fill(assignment, NOTEBOOK, release_dir=dist / "course")     # the distribution's notebook, answered
    probe = ("import importlib.util, sys\n"
             "assert importlib.util.find_spec('grader') is None, 'the kernel can import grader'\n"
             "assert importlib.util.find_spec('nbgrader') is None, 'the kernel can import nbgrader'\n"
             f"assert not any(p.startswith({str(REPO)!r}) for p in sys.path), sys.path\n"
             "print('isolated')")
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="student", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))
    folder = dist / "course" / NOTEBOOK
    NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(folder)}}).execute(
        env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", ""), "MPLBACKEND": "Agg"})

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[0]
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    visible = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("_visible")]
    assert len(visible) >= 6 and printed.count("passes the visible checks") >= len(visible), printed[-2000:]
    assert printed.rstrip().endswith("isolated")

    # and the same Python, started in the distribution folder, cannot import the grader either
    plain = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = [{str(site)!r}]; "
                            "import numpy, torch, matplotlib; import grader"],
                           cwd=dist, capture_output=True, text=True, timeout=120)
    assert plain.returncode != 0 and "No module named 'grader'" in plain.stderr, plain.stderr


def test_it_refuses_a_folder_that_is_not_empty_or_inside_the_repository(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    refused = run_grader("distribute", os.path.relpath(taken, REPO))
    assert refused.returncode == 2 and "exists and is not empty" in refused.stderr, refused.stderr
    assert _files(taken) == ["notes.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]

    inside = run_grader("distribute", "students")          # from the repository root: REPO/students
    assert inside.returncode == 2 and "inside the course's repository" in inside.stderr, inside.stderr
    assert not (REPO / "students").exists()
    assert not list(REPO.glob(".students-*")), "a half-written distribution was left in the repository"

    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_grader("distribute", os.path.relpath(empty, REPO))   # an empty folder is fine
    assert done.returncode == 0, done.stderr
    assert (empty / "course" / NOTEBOOK / f"{NOTEBOOK}.ipynb").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "taken"], "staging left behind"


def test_the_hubs_student_environment_is_the_locks_with_nbgrader_and_no_grader() -> None:
    """hub/students/requirements.txt, what students' servers run in on the class's JupyterHub, is what the lock
    gives numpy, torch, matplotlib, JupyterLab, nbgrader and JupyterHub's single-user server, and nothing of this
    repository (which is what would hand students the references and hidden tests)."""
    from grader.commands.distribute import HUB_REQUIREMENTS, HUB_STUDENT_PACKAGES, hub_requirements_text, student_pins

    written = HUB_REQUIREMENTS.read_text(encoding="utf-8")
    assert written == hub_requirements_text(student_pins(roots=HUB_STUDENT_PACKAGES)), (
        f"{HUB_REQUIREMENTS} is not the lock's: regenerate it with "
        "`.venv/bin/python -m grader.commands.distribute --hub-requirements`")
    pins = {line.split("==")[0] for line in written.splitlines() if "==" in line and not line.startswith("#")}
    assert {"nbgrader", "jupyterhub", "jupyterlab", "torch", "numpy", "matplotlib"} <= pins, pins
    local = [line for line in written.splitlines() if line.startswith(("-e", ".", "/", "file:")) or "@" in line]
    assert "embedding-layers-course" not in pins and not local, local


def test_the_hub_starts_an_instructors_server_and_a_students_each_their_own_way() -> None:
    """hub/jupyterhub_config.py's pre-spawn hook: a student's server keeps the students' environment's command and
    configuration (none from the checkout); an instructor's runs from the hub's environment with hub/instructors and
    hub/everyone; starting a server again changes nothing more."""
    from types import SimpleNamespace

    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("jupyterhub_config.py", path=str(REPO / "hub")).load_config()
    hook = config.Spawner.pre_spawn_hook
    hook.__globals__["INSTRUCTORS"].add("teach")
    servers = {name: SimpleNamespace(user=SimpleNamespace(name=name), cmd=list(config.Spawner.cmd), environment={})
               for name in ("ada", "teach")}
    for _ in range(2):
        for server in servers.values():
            hook(server)
    ada, teach = servers["ada"], servers["teach"]
    assert ada.cmd == ["/opt/embedding-layers/students/bin/jupyterhub-singleuser"] and ada.environment == {}, ada
    assert teach.cmd == [str(Path(sys.executable).parent / "jupyterhub-singleuser")], teach.cmd
    assert teach.environment["JUPYTER_CONFIG_PATH"] == os.pathsep.join(
        [str(REPO / "hub" / "instructors"), str(REPO / "hub" / "everyone")])
    assert "CollectOwnSubmissions" not in (REPO / "hub" / "everyone" / "nbgrader_config.py").read_text() + (
        REPO / "hub" / "students" / "jupyter_server_config.py").read_text(), "students' config names the grader"
