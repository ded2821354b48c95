"""Where the course lives and how nbgrader is configured for a class workspace.

The repository holds the course: ``solutions/`` (nbgrader's source directory), ``course/`` (its release
directory) and ``nbgrader_config.py``. A *workspace* is an nbgrader course root for one class: it holds
``submitted/``, ``autograded/``, ``feedback/`` and the gradebook, and reads the assignments from the
repository's ``solutions/``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import cells as cells_

if TYPE_CHECKING:  # nbgrader takes ~2 s to import; only the commands that need it pay for it
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
COURSE = REPO / "course"
CONFIG_FILE = REPO / "nbgrader_config.py"

# Student ids become folder names, command-line arguments and spreadsheet cells: letters, digits and . _ @ - only,
# starting with a letter, a digit or _ (not ".", "-" an option, or "@"/"-" that a spreadsheet reads as a formula).
STUDENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,99}$")
# The files nbgrader's exchange writes beside a submission's notebooks (its ``submit``): when it was handed in, and the
# secret that names the student's feedback in the exchange. ``nbgrader collect`` copies them into submitted/, nbgrader's
# autograde and generate_feedback copy them on into autograded/ and feedback/, and ``nbgrader release_feedback``
# reads both from feedback/. Each is a line of text; more than this many bytes is not one of them.
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
MAX_EXCHANGE_FILE_BYTES = 1024


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string that would start a formula (= + - @, tab, CR) gets a leading
    apostrophe (student text in the integrity CSV, names and emails in the grades)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class GraderError(Exception):
    """A problem the instructor can fix; the message says what and how. The CLI prints it without a traceback."""


@dataclass(frozen=True)
class Assignment:
    """One folder of ``solutions/``: an nbgrader assignment with its notebooks."""

    name: str
    notebooks: tuple[str, ...]
    graded: bool  # False for orientation notebooks without any grade cell

    @property
    def source_dir(self) -> Path:
        return SOLUTIONS / self.name


def say(line: str) -> None:
    """A progress or status line for the instructor: on stderr, so that stdout holds only the table and paths."""
    print(line, file=sys.stderr, flush=True)


def _has_grade_cells(path: Path) -> bool:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return any(cells_.is_graded(cell) for cell in cells)


def assignments() -> list[Assignment]:
    """All assignments in ``solutions/``, in order (folder names start with their number)."""
    found = []
    for folder in sorted(p for p in SOLUTIONS.iterdir() if p.is_dir() and not p.name.startswith(".")):
        notebooks = sorted(folder.glob("*.ipynb"))
        if notebooks:
            graded = any(_has_grade_cells(nb) for nb in notebooks)
            found.append(Assignment(folder.name, tuple(nb.stem for nb in notebooks), graded))
    return found


def graded_assignments() -> list[Assignment]:
    return [a for a in assignments() if a.graded]


def notebook_index() -> dict[str, Assignment]:
    """Notebook name -> its assignment, for every graded notebook."""
    return {nb: a for a in graded_assignments() for nb in a.notebooks}


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """A path as the instructor typed it, made absolute where it enters: ``~`` expanded, a relative path taken from
    the current working directory. nbgrader changes directory as it works, so nothing relative may pass this point."""
    return Path(path).expanduser().resolve()


_SQLITE = re.compile(r"^(?P<scheme>sqlite(?:\+\w+)?:///)(?P<path>[^?]*)(?P<query>\?.*)?$")


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL (``sqlite:///…``, ``sqlite+pysqlite:///…``); None for any other URL or an
    in-memory database."""
    match = _SQLITE.match(url)
    if not match or match["path"] in ("", ":memory:"):
        return None
    return Path(match["path"])


def absolute_db_url(url: str) -> str:
    """``url`` with a relative SQLite file made absolute (``sqlite:///grades.db``, ``sqlite:///~/grades.db``);
    any other URL unchanged. nbgrader opens the gradebook after changing directory."""
    path = sqlite_file(url)
    if path is None or path.is_absolute():
        return url
    match = _SQLITE.match(url)
    assert match is not None
    return f"{match['scheme']}{resolve_path(path)}{match['query'] or ''}"


def default_db_url(root: Path) -> str:
    # timeout: wait for a lock instead of failing with nbgrader's misleading "run `nbgrader db upgrade`".
    return f"sqlite:///{resolve_path(root)}/gradebook.db?timeout=60"


def gradebook_url(root: Path, db_url: str | None = None) -> str:
    """The gradebook of workspace ``root``: ``db_url`` (relative SQLite paths made absolute) or ROOT/gradebook.db."""
    return absolute_db_url(db_url) if db_url else default_db_url(root)


def check_workspace(root: Path, db_url: str | None = None) -> None:
    """Refuse a workspace (or an SQLite gradebook) that is a file, or that lies inside the folders a grade depends on
    (``grader/``, ``solutions/``, ``course/``; grading would change the very files it is fingerprinted by) or inside
    ``tests/``."""
    root = resolve_path(root)
    if root.exists() and not root.is_dir():
        raise GraderError(f"--root {root} is a file, not a folder: give the class's workspace folder.")
    kept = [REPO / "grader", SOLUTIONS, COURSE, REPO / "tests"]
    database = sqlite_file(gradebook_url(root, db_url))
    database = database.resolve() if database is not None else None   # "/x/../repo/grader/db", links: where it is
    for path, what in ((root, "the workspace"), (database, "the gradebook")):
        inside = next((folder for folder in kept if path is not None and (path == folder or folder in path.parents)),
                      None)
        if inside is not None:
            raise GraderError(f"{what} {path} is inside {inside}, a folder of the repository whose files the grades "
                              "depend on: choose a folder outside it (for example --root "
                              f"{shlex.quote(str(Path.home() / 'classes' / 'fall'))}).")


def require_gradebook(root: Path, db_url: str | None = None) -> None:
    """Refuse, with what to do, a workspace that has nothing graded yet (instead of creating an empty gradebook)."""
    root = resolve_path(root)
    if not root.is_dir():
        raise GraderError(f"{root} does not exist or is not a folder: give the workspace of a class you have graded "
                          f"(--root), or grade one first: python -m grader autograde SUBMISSIONS --root "
                          f"{shlex.quote(str(root))}")
    database = sqlite_file(gradebook_url(root, db_url))
    if database is not None and not database.is_file():
        recorded = recorded_gradebook(root)
        if recorded and not db_url and recorded != gradebook_url(root):
            raise GraderError(f"{root} was graded into another gradebook: add --db {shlex.quote(recorded)}")
        raise GraderError(f"no gradebook at {database}: nothing has been graded in {root} yet. Grade first: "
                          f"python -m grader autograde SUBMISSIONS --root {shlex.quote(str(root))}")


def recorded_gradebook(root: Path) -> str | None:
    """The gradebook URL the last ``grader autograde`` of workspace ``root`` wrote into (None if it never ran)."""
    from grader.grading.engine import recorded_gradebook as recorded

    return recorded(root)


def check_db_url(url: str) -> str:
    """``--db`` as given: an SQLAlchemy URL (relative SQLite paths made absolute), or a GraderError saying what one
    looks like."""
    from sqlalchemy.engine import make_url

    try:
        make_url(url)
    except Exception:  # any reason it is not a URL gets the same advice
        raise GraderError(f"--db {url!r} is not a database URL: give one such as sqlite:///fall.db (a file) or "
                          "postgresql+psycopg2://user@host/dbname") from None
    return absolute_db_url(url)


def load_config(root: Path, db_url: str | None = None) -> Config:
    """The course's nbgrader configuration, pointed at the workspace ``root``."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(REPO)).load_config()
    config.CourseDirectory.root = str(resolve_path(root))
    config.CourseDirectory.source_directory = str(SOLUTIONS)
    # A workspace generates its own copy of the release (to record the assignments in its gradebook); it
    # must never write into the repository's course/, even when the workspace is the repository itself.
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.db_url = gradebook_url(root, db_url)
    # The file's refusal of nbgrader's own autograde (grader.compat.guard.RefuseAutograde) is for everything else that
    # reads it: the grader's Autograde is nbgrader's stock one, run in the sandbox and re-checked.
    from grader.compat.guard import RefuseAutograde

    if config.Autograde.get("exporter_class") in (RefuseAutograde, "grader.compat.guard.RefuseAutograde"):
        del config.Autograde["exporter_class"]
    return config


WORKSPACE_CONFIG_MARK = "# Written by `python -m grader autograde`"


def write_workspace_config(root: Path, db_url: str | None = None) -> str | None:
    """Make the workspace ``root`` a complete nbgrader course: its own ``nbgrader_config.py``, read by formgrader
    (``cd ROOT && jupyter lab``) and by nbgrader's commands run there — the course's configuration (so feedback never
    shows hidden-test source), the course's solutions as nbgrader's source, the workspace's release and gradebook, and
    nbgrader's own autograde refused (:mod:`grader.compat.guard`). A file the grader did not write is left alone;
    the note returned says what it lacks."""
    path = resolve_path(root) / "nbgrader_config.py"
    if path == CONFIG_FILE:   # the repository as the workspace: the course's own configuration refuses there too
        return None if db_url is None else (
            f"formgrader and nbgrader's commands in {REPO} read its gradebook.db, not --db: give them "
            f"--CourseDirectory.db_url={shlex.quote(without_password(db_url))}")
    if path.exists() and not path.read_text(errors="replace").startswith(WORKSPACE_CONFIG_MARK):
        return (f"{path} is not the grader's, so it is left as it is: for formgrader and nbgrader's commands there "
                f"to give feedback without hidden tests and to refuse grading around the sandbox, add "
                f"`load_subconfig({str(CONFIG_FILE)!r})` and the lines of a workspace config (README).")
    from grader.compat.formgrader import template_basedirs

    url = gradebook_url(root, db_url)
    db_line = (f"c.CourseDirectory.db_url = {url!r}" if url.startswith("sqlite") else
               f"# c.CourseDirectory.db_url = {without_password(url)!r}   (add the password nbgrader needs)")
    path.write_text(f"""{WORKSPACE_CONFIG_MARK}, and again on every run while this first line is here.
# This class workspace as an nbgrader course, for formgrader (`cd ROOT && jupyter lab`) and nbgrader's commands
# run here; the grader itself reads only the course's configuration.
c = get_config()  # noqa: F821
load_subconfig({str(CONFIG_FILE)!r})  # noqa: F821 -- the course's configuration: feedback without hidden tests
c.CourseDirectory.root = {str(resolve_path(root))!r}
c.CourseDirectory.source_directory = {str(SOLUTIONS)!r}
c.CourseDirectory.release_directory = "release"
{db_line}
# nbgrader's own autograde (formgrader's Autograde button, `nbgrader autograde`) would grade without the sandbox and
# the re-check: it refuses, saying what to run instead.
c.Autograde.sanitize_preprocessors = ["grader.compat.guard.UseTheGrader"]
c.Autograde.autograde_preprocessors = ["grader.compat.guard.UseTheGrader"]
c.UseTheGrader.root = {str(resolve_path(root))!r}
# formgrader typesets maths with MathJax from this server, not a CDN (grader/compat/formgrader.py)
c.HTMLExporter.extra_template_basedirs = {template_basedirs()!r}
""")
    return None


def make_api(root: Path, db_url: str | None = None, kernel_ipc_dir: Path | None = None,
             kernel_name: str | None = None, cell_timeout: int | None = None,
             hidden_tests_outside: bool = False) -> NbGraderAPI:
    """nbgrader's Python API for the workspace ``root``.

    kernel_ipc_dir: talk to kernels over Unix sockets in this folder instead of loopback TCP. Kernels started at the
    same moment by parallel workers can race for the same free TCP port (a kernel that never answers); a folder of
    its own per worker cannot collide, and nothing else on the machine can connect to it.
    kernel_name: the kernelspec that executes notebooks (default: the configuration's, python3).
    cell_timeout: seconds a cell may run (default: the configuration's ``Execute.timeout``).
    hidden_tests_outside: never send hidden test cells to the kernel (a grading worker computes their results on
    its own side: :mod:`grader.integrity.recheck`).
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    ensure_tools_on_path()
    config = load_config(root, db_url)
    if kernel_ipc_dir is not None:
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(kernel_ipc_dir / "kernel")
        config.KernelManager.client_class = "grader.compat.kernels.QuickReadyClient"
    if kernel_name is not None:
        config.ExecutePreprocessor.kernel_name = kernel_name
    if cell_timeout:
        config.Execute.timeout = cell_timeout
    if hidden_tests_outside:
        config.ResilientExecute.hidden_tests_in_kernel = False
    preprocessors = config.Autograde.get("autograde_preprocessors")
    if preprocessors:  # nbgrader's SaveAutoGrades as one transaction per notebook (same rows, same values)
        from nbgrader.preprocessors import SaveAutoGrades

        from grader.compat.speedups import save_auto_grades_at_once

        config.Autograde.autograde_preprocessors = [save_auto_grades_at_once() if p is SaveAutoGrades else p
                                                    for p in preprocessors]
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def ensure_tools_on_path() -> None:
    """nbgrader shells out to ``alembic``: put this interpreter's ``bin/`` first on PATH."""
    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


# A traceback's last line: ``ValueError: …``, ``nbgrader.api.MissingEntry: …`` (not any ``a.b: …``, which a student's
# source quoted in a traceback can be).
_EXCEPTION_LINE = re.compile(r"^\s*((?:\w+\.)*\w*(?:Error|Exception|Exit|Interrupt|MissingEntry|NoResultFound)): ")


def last_error(result: dict) -> str:
    """The most informative line of nbgrader's log: the last exception raised, not its generic wrapper
    (GRADER_DEBUG=1 prints the whole log)."""
    # nbgrader's ``error`` is often only its wrapper ("Please see the above traceback"); the log holds the traceback.
    text = "\n".join(part for part in (result.get("log"), result.get("error")) if part).strip() or "unknown error"
    if os.environ.get("GRADER_DEBUG"):
        print(result.get("log"), result.get("error"), sep="\n", file=sys.stderr)
    lines = text.splitlines()
    raised = [line.strip() for line in lines if _EXCEPTION_LINE.match(line) and "NbGraderException" not in line]
    errors = [line.strip() for line in lines if "[ERROR]" in line]
    return (raised or errors or lines or ["unknown error"])[-1][:300]


def check_result(result: dict, what: str) -> None:
    """nbgrader's API returns ``{success, log, error}`` instead of raising; turn a failure into a GraderError that
    names the exception (not nbgrader's traceback)."""
    if not result.get("success"):
        raise GraderError(f"{what} failed: {last_error(result)} (GRADER_DEBUG=1 shows nbgrader's log)")


class NbgraderNoise:
    """Logging filter for two messages nbgrader emits that are not news to an instructor.

    * "Attribute 'checksum' for cell … has changed!" for every hidden test cell of every submission: the
      released cell (hidden tests removed) never has the checksum recorded for the full cell, and
      ``OverwriteCells`` restores the full cell either way. The same warning for any other cell (an edited
      test cell) stays visible.
    * "Unwritable directory … exchange": the API checks the JupyterHub exchange on start, which these
      commands never use.
    * "Alternative text is missing on N image(s)": nbconvert's HTML exporter, for every plot in a feedback page.
    """

    _checksum = re.compile(r"Attribute 'checksum' for cell (\S+) has changed")

    def __init__(self) -> None:
        self.hidden_cells = {
            cells_.grade_id(cell)
            for a in assignments() for nb in a.notebooks
            for cell in json.loads((a.source_dir / f"{nb}.ipynb").read_text(encoding="utf-8"))["cells"]
            if cells_.is_hidden_test(cell)
        }

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Unwritable directory" in message and "exchange" in message:
            return False
        if message.startswith("Removing existing assignment"):  # generate_feedback(force=True), every time
            return False
        if message.startswith("Alternative text is missing"):  # nbconvert, for every plot in a feedback page
            return False
        match = self._checksum.search(message)
        return not (match and match.group(1) in self.hidden_cells)


def configure_logging(verbose: bool = False) -> None:
    """Show warnings and errors on stderr (everything with ``verbose``), without nbgrader's routine noise."""

    handler = logging.StreamHandler(sys.stderr)
    # nbgrader's applications log every file they write at INFO.
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(NbgraderNoise())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    quiet_nbgrader_warnings()


def quiet_nbgrader_warnings() -> None:
    """nbgrader 0.9.6's gradebook code predates SQLAlchemy 2.x's session rules: it warns "not in session" for rows it
    then writes correctly. Not news to an instructor; every process that writes a gradebook calls this."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", message=".*not in session.*", category=SAWarning, module="nbgrader")


def check_gradebook_reachable(db_url: str | None) -> None:
    """Connect to a ``--db`` server once before anything is written (SQLite files are created as needed)."""
    if not db_url or db_url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine

    engine = create_engine(db_url)
    try:
        with engine.connect():
            pass
    except Exception as err:  # whatever the driver raises, the instructor gets the same one line
        raise GraderError(f"cannot open the gradebook {without_password(db_url)}: {first_line(err)}") from None
    finally:
        engine.dispose()


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def without_password(url: str) -> str:
    """A database URL fit to print: its password replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: nothing in it is shown as a secret
        return url.split("@")[-1]
