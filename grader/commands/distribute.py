"""``grader distribute DIR``: the student distribution of a graded class — the release and what runs it, nothing else.

This repository is the course for self-study: its ``solutions/`` and the hidden tests and references in
``grader/content/`` are there on purpose. Students of a graded class get a folder instead, to publish as a repository
of its own (for Binder) or hand out as a zip:

    DIR/README.md              how to open the notebooks (locally, Binder, Colab) and check your work
    DIR/requirements.txt       numpy, torch, matplotlib, JupyterLab and what they depend on, at the lock's versions
    DIR/environment.yml        the same pins for conda
    DIR/binder/requirements.txt, DIR/binder/runtime.txt   what Binder (repo2docker) builds: the same pins, Python 3.11
    DIR/course/<NN_name>/...   the repository's course/, byte for byte

It is nbgrader's ``release_assignment`` for a class without an exchange: ``grader release`` makes ``course/`` from
``solutions/``; this command only packages the committed ``course/`` (so run it after ``grader release``; a test
holds ``course/`` to ``solutions/``). The student requirements are computed, not listed by hand: the requirements of
the installed distributions (their metadata, with environment markers evaluated here and extras followed), from
:data:`STUDENT_PACKAGES` down, each pinned to the lock's version. Nothing is written unless all of it can be: the
folder is built beside DIR and renamed into place.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from grader.project import COURSE, REPO, GraderError, resolve_path

# What a student's notebooks import (numpy, torch, matplotlib; a test checks every import of course/) and the
# environment they open them in.
STUDENT_PACKAGES = ("numpy", "torch", "matplotlib", "jupyterlab")
# A student's server on the class's JupyterHub needs nbgrader's Assignment List and Validate, and the hub's
# single-user server, besides: what hub/students/requirements.txt pins (the students' environment on the hub).
HUB_STUDENT_PACKAGES = (*STUDENT_PACKAGES, "nbgrader", "jupyterhub")
HUB_REQUIREMENTS = REPO / "hub" / "students" / "requirements.txt"
LOCK = REPO / "requirements.txt"
# The CPU build of torch: a few hundred MB instead of several GB of CUDA libraries (pip takes 2.13.0+cpu from here).
TORCH_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
PYTHON = "3.11"
# What ``pip freeze`` leaves out of the lock: installers that every virtual environment has. torch requires setuptools;
# pip installs it as torch's own requirement says, so the student files pin it no more than the lock does.
NOT_IN_FREEZE = frozenset({"pip", "setuptools", "wheel", "distribute"})


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def read_lock(path: Path = LOCK) -> dict[str, tuple[str, str]]:
    """The lock's pins: canonical name -> (its line as written, its version). Comments and blank lines are skipped."""
    pins = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise GraderError(f"{path}: {raw!r} is not a pin (name==version); the lock pins every package exactly")
        pins[_canonical(name)] = (line, version.strip())
    return pins


def dependency_closure(roots: tuple[str, ...] = STUDENT_PACKAGES) -> set[str]:
    """Canonical names of ``roots`` and every distribution they need, read from the installed metadata.

    A requirement counts if it has no environment marker, or its marker holds on this machine for the base package
    or one of the extras asked for (``jsonschema[format-nongpl]`` brings its format checkers). Packages needed only
    on another platform (``appnope`` on macOS, ``pywinpty`` on Windows) are not installed here, not in the lock,
    and resolve unpinned there.
    """
    from packaging.requirements import Requirement

    extras_done: dict[str, set[str]] = {}
    todo = [(_canonical(name), frozenset[str]()) for name in roots]
    while todo:
        name, extras = todo.pop()
        done = extras_done.setdefault(name, set())
        new = ({""} | set(extras)) - done
        if not new:
            continue
        done |= new
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise GraderError(f"{name} is needed by the student packages but is not installed here: set up the "
                              "environment from the lock first (make setup)") from None
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in new):
                todo.append((_canonical(req.name), frozenset(req.extras)))
    return set(extras_done)


def student_pins(lock: Path = LOCK, roots: tuple[str, ...] = STUDENT_PACKAGES) -> list[str]:
    """The lock's lines for :func:`dependency_closure` of ``roots``, sorted: what a student needs, at the course's
    versions.

    Refuses an environment that is not the lock's (a needed package with no pin, or installed at another version),
    since the metadata read would then not be the lock's."""
    from packaging.version import Version

    pins = read_lock(lock)
    lines = []
    for name in sorted(dependency_closure(roots) - NOT_IN_FREEZE):
        if name not in pins:
            raise GraderError(f"{name} is needed by {', '.join(roots)} but {lock.name} does not pin it: "
                              "regenerate the lock from this environment (its first lines say how)")
        line, version = pins[name]
        installed = metadata.version(name)
        if Version(installed).public != Version(version).public:
            raise GraderError(f"{name} is installed at {installed} but {lock.name} pins {version}: install the "
                              f"lock (pip install -r {lock.name}) before writing a distribution")
        lines.append(line)
    return lines


def requirements_text(pins: list[str]) -> str:
    return "\n".join([
        "# What the course's notebooks need: numpy, torch, matplotlib and JupyterLab with everything they depend on,",
        "# at the versions the course is tested with (written by `python -m grader distribute`).",
        "#   python3.11 -m venv .venv && .venv/bin/pip install -r requirements.txt",
        TORCH_INDEX,
        *pins,
        "",
    ])


def hub_requirements_text(pins: list[str]) -> str:
    """hub/students/requirements.txt: the environment students' servers run in on the class's JupyterHub."""
    return "\n".join([
        "# The students' environment on the class's JupyterHub (hub/jupyterhub_config.py): what the notebooks",
        "# need, nbgrader (Assignment List, Validate) and JupyterHub's single-user server, at the lock's versions;",
        "# no grader.",
        "# Build it where students can read it and the course's checkout is out of their reach (README):",
        "#   sudo python3.11 -m venv /opt/embedding-layers/students",
        "#   sudo /opt/embedding-layers/students/bin/pip install -r hub/students/requirements.txt",
        "# Regenerated, after the lock changes, by: .venv/bin/python -m grader.commands.distribute --hub-requirements",
        TORCH_INDEX,
        *pins,
        "",
    ])


def environment_text(pins: list[str]) -> str:
    """conda's environment, self-contained (no ``-r``: conda and repo2docker may read it away from its folder)."""
    body = "\n".join(f"      - {pin}" for pin in pins)
    return f"""# conda env create -f environment.yml && conda activate embedding-layers && jupyter lab course/
# The same pins as requirements.txt (written by `python -m grader distribute`).
name: embedding-layers
channels:
  - conda-forge
dependencies:
  - python={PYTHON}
  - pip
  - pip:
      - {TORCH_INDEX}
{body}
"""


README = """# Embedding Layers, from first principles — the notebooks

The notebooks of this course, ready to work in. Each one explains an idea, has you implement it in exercise cells,
and checks your code right after each exercise. Start with `course/00_start_here/00_start_here.ipynb`: it explains
the layout and checks your setup.

## Open the notebooks

* **Locally with pip** (Python 3.11):
  `python3.11 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/jupyter lab course/`
* **Locally with conda**:
  `conda env create -f environment.yml && conda activate embedding-layers && jupyter lab course/`
* **Binder**: open `https://mybinder.org/v2/gh/<owner>/<repository>/HEAD?urlpath=lab/tree/course` with the address
  your instructor gives you; Binder builds the environment from `binder/` (the same versions, Python 3.11).
* **Colab**: *File → Upload notebook* and choose a notebook from `course/`; numpy, torch and matplotlib are already
  installed there.

## Check your work

Run each exercise's **check cell**, the cell right after it: it prints `✓ … passes the visible checks`, or stops
with a message naming the property that failed, the input, and what to look at. *Kernel → Restart Kernel and Run
All Cells* runs the whole notebook as the grader will. The **hidden tests** run only when your notebook is graded;
their cells list what they cover. Write only in the exercise cells, keep the notebook's name, and do not delete or
split the check cells. Hand in the notebook as your instructor asks (an upload, or *Submit* on a JupyterHub).
"""


def _target(dest: Path) -> Path:
    """``dest`` resolved, or a GraderError if it is inside the repository, a file, or a folder that is not empty."""
    dest = resolve_path(dest)
    if dest == REPO or REPO in dest.parents:
        raise GraderError(f"{dest} is inside the course's repository ({REPO}), which holds the solutions and the "
                          "hidden tests: write the distribution somewhere else, for example "
                          f"{Path.home() / 'embedding-layers-students'}")
    if dest.exists() and not dest.is_dir():
        raise GraderError(f"{dest} is a file: give a new or empty folder for the distribution")
    if dest.is_dir() and any(dest.iterdir()):
        raise GraderError(f"{dest} exists and is not empty: give a new or empty folder (nothing was written)")
    return dest


def distribute(dest: Path, course: Path = COURSE) -> list[Path]:
    """Write the student distribution into ``dest`` (a new or empty folder outside the repository); return its files,
    relative to it, sorted. Either all of it is written or nothing is."""
    dest = _target(dest)
    if not any(course.glob("*/*.ipynb")):
        raise GraderError(f"{course} holds no notebooks: run `python -m grader release` first")
    pins = student_pins()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        shutil.copytree(course, staging / "course",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc"))
        (staging / "requirements.txt").write_text(requirements_text(pins), encoding="utf-8")
        (staging / "environment.yml").write_text(environment_text(pins), encoding="utf-8")
        (staging / "binder").mkdir()
        (staging / "binder" / "requirements.txt").write_text(requirements_text(pins), encoding="utf-8")
        (staging / "binder" / "runtime.txt").write_text(f"python-{PYTHON}\n", encoding="utf-8")
        (staging / "README.md").write_text(README, encoding="utf-8")
        staging.chmod(0o755)   # mkdtemp's folder is private; the distribution is meant to be shared
        if dest.is_dir():
            dest.rmdir()       # empty (checked above); rename needs the name free
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file())


if __name__ == "__main__":   # python -m grader.commands.distribute --hub-requirements
    import sys

    if sys.argv[1:] != ["--hub-requirements"]:
        sys.exit("usage: python -m grader.commands.distribute --hub-requirements  (rewrites hub/students/"
                 "requirements.txt from the lock; for the student distribution run: python -m grader distribute DIR)")
    HUB_REQUIREMENTS.write_text(hub_requirements_text(student_pins(roots=HUB_STUDENT_PACKAGES)), encoding="utf-8")
    print(f"wrote {HUB_REQUIREMENTS}")
