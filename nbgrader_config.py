"""nbgrader configuration of the course (nbgrader 0.9.6).

Read by the plain `nbgrader` commands run from this folder and by `python -m grader`, which loads this file
and only changes where a class workspace lives. `solutions/` is nbgrader's source directory and `course/`
its release directory; submitted/, autograded/, feedback/ and gradebook.db are runtime folders (git-ignored).
The gradebook defaults to <course root>/gradebook.db; `python -m grader autograde --db URL` takes any
SQLAlchemy URL.
"""

from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, GetGrades, IgnorePattern, SaveAutoGrades

from grader.compat.execute import LimitOutputSize, ResilientExecute
from grader.compat.feedback import FeedbackExporter, HideHiddenTests
from grader.compat.guard import RefuseAutograde

c = get_config()  # noqa: F821 -- injected by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "embedding-layers"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"

# Student notebooks need nothing but numpy, torch and matplotlib; a kernel is the environment's python3.
c.ExecutePreprocessor.kernel_name = "python3"
c.Execute.timeout = 120                  # seconds per cell; the notebooks' cells take well under 5 s
c.Execute.shutdown_kernel = "immediate"  # the graceful shutdown costs ~1.5 s per notebook and buys nothing here
# ipykernel 7 warns on every start that its loopback TCP sockets are unencrypted; the kernel's own log is
# not student output, so keep it to errors (nbclient still adds the in-memory history file).
c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]

# Students who edit in VS Code or Colab lose nbgrader's lock metadata and sometimes delete cells:
# re-insert missing test cells from the gradebook instead of silently grading them as absent.
c.OverwriteCells.add_missing_cells = True

# nbgrader's autograde steps, with two replaced: a kernel that dies or hangs costs one cell and is restarted
# (ResilientExecute), and output is capped in characters as well as lines (LimitOutputSize).
c.Autograde.autograde_preprocessors = [ResilientExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutputSize,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]

# Student content (Markdown, HTML and JavaScript outputs) is shown inert in every page rendered from a notebook:
# feedback, and formgrader's views of submissions, which use nbconvert's HTMLExporter with this configuration.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"clean_html": "grader.compat.feedback.safe_html",  # outputs (keeps <p>, tables, images)
                          "strip_files_prefix": "grader.compat.feedback.inert_markdown"}  # Markdown, every template

# `nbgrader collect` takes a submission as the student's who owns its folder in the exchange, not whoever it names
# (stock nbgrader only warns): grader/compat/exchange.py.
c.ExchangeFactory.collect = "grader.compat.exchange.CollectOwnSubmissions"

# Feedback shows each hidden test by its name, points and report, never its source (nbgrader#917).
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
c.GenerateFeedback.exporter_class = FeedbackExporter  # HTMLExporter whose templates are compiled once per process

# nbconvert checks the notebook against the schema after every preprocessor of every conversion (~16 a notebook in
# autograde and feedback, ~45 ms); once, after the last, is enough: an invalid notebook still fails its conversion,
# and the grader's SaveAutoGrades validates before it scores (grader/compat/speedups.py), so nothing invalid is scored.
c.Exporter.optimistic_validation = True

# Plain nbgrader at this folder (the repository, also `python -m grader autograde`'s default workspace), through
# traitlets' per-parent sections: a `c.App.Class` line applies only to what that command creates, never to the
# grader's own use of nbgrader's API.
# `nbgrader generate_assignment NN_name` records the assignment in ./gradebook.db and writes its release into
# release/ (git-ignored): course/ is the committed release, made only by `python -m grader release`.
c.GenerateAssignmentApp.CourseDirectory.release_directory = "release"
# nbgrader's own autograde would run students' code without the sandbox and the re-check: `nbgrader autograde`,
# formgrader's Autograde button (NbGraderAPI.autograde) and any NbGraderAPI built from this file refuse as they start,
# naming the command to run (grader/compat/guard.py). Every Autograde, not only the CLI's: a `c.NbGrader.Autograde`
# section never reaches formgrader's, whose parent is its NbGraderAPI. The grader's own NbGraderAPI reads this file
# without it (grader.project.load_config). `--UseTheGrader.enabled=False` grades with stock nbgrader anyway,
# knowingly (benchmarks, tests).
c.Autograde.exporter_class = RefuseAutograde
c.UseTheGrader.root = str(Path(__file__).resolve().parent)  # the message's --root; a workspace's config sets its own
