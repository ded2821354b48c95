"""The README's instructor workflow, executed: every shell command of its ``bash`` blocks, as written, in order.

The commands run with bash from a temporary copy of the repository whose path holds a space (the README says "from
the repository root"), with a home folder of their own (also with a space) holding the LMS export the README grades,
``~/Downloads/lookup-submissions.zip``, and this environment's ``python`` first on PATH. Relative paths, ``~`` and
quoting are therefore exercised exactly as an instructor would meet them; if the README and the code drift apart,
this test fails on the command that no longer works.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.project import REPO, notebook_index
from grader.samples.submissions import fill
from tests.helpers import copy_repo

SECTION = "## Instructor workflow"


def readme_commands(readme: str) -> list[str]:
    """Every command line of the ``bash`` blocks of the instructor workflow, comments removed."""
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_the_readme_workflow_has_commands_to_run() -> None:
    commands = readme_commands((REPO / "README.md").read_text(encoding="utf-8"))
    verbs = {c.split()[3] for c in commands if c.startswith("python -m grader ")}
    assert {"release", "autograde", "feedback", "export"} <= verbs, commands


@pytest.fixture
def newcomer(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the repository (what the commands need) and an environment with its own home and LMS export."""
    work = copy_repo(tmp_path / "course copy")
    home = tmp_path / "home dir"
    lookup = notebook_index()["01_lookup"]
    export = home / "Downloads" / "lookup-submissions.zip"
    export.parent.mkdir(parents=True)
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("ada_01_lookup.ipynb", nbformat.writes(fill(lookup, "01_lookup")))
        archive.writestr("ben_01_lookup.ipynb", nbformat.writes(fill(lookup, "01_lookup", solve=False)))
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "HOME": str(home), "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    env.pop("PYTHONPATH", None)
    return work, env


def test_every_instructor_command_works_as_written(newcomer: tuple[Path, dict[str, str]]) -> None:
    work, env = newcomer
    commands = readme_commands((work / "README.md").read_text(encoding="utf-8"))
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                              timeout=900, check=False)
        output = done.stdout[-2500:] + done.stderr[-2500:]
        assert done.returncode == 0, f"README command failed: {command}\n{output}"
        assert "Traceback" not in done.stderr, f"README command printed a traceback: {command}\n{output}"
    home = Path(env["HOME"])
    workspace = home / "classes" / "2026-fall"
    assert (workspace / "feedback" / "ada" / "01_lookup" / "01_lookup.html").is_file()
    assert (workspace / "grades_by_student.csv").read_text().splitlines()[0].startswith("student,")
    assert (work / "fall 2026" / "feedback" / "ben" / "01_lookup" / "01_lookup.html").is_file()
    assert (work / "fall.db").is_file() and not (work / "fall 2026" / "gradebook.db").exists()
    assert not (work / "gradebook.db").exists(), "a command wrote a gradebook where it was not asked to"
