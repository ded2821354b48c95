"""``python -m grader new-exercise`` scaffolds an exercise that nbgrader releases, that the re-check reads with the
points typed once, that gives no points until its hidden tests are written, that lints clean, and it refuses, writing
nothing, what it cannot scaffold.

Everything runs on one copy of the repository: a new notebook with two exercises (the second extends the modules the
first created) and an exercise added to 01_lookup (whose hand-written modules it extends)."""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.integrity.recheck import HiddenTest, HiddenTestUnreadable, VisibleTest, hidden_tests, notebook_tests
from tests.helpers import copy_repo
from tests.test_layout import grader_imports_outside

NEW = "09_retrieval"
SCAFFOLD = (  # (arguments, exercise, module, hidden points, visible points)
    ([NEW, "near_rows", "--points", "3", "--params", "pair, ids"], "near_rows", "retrieval", 3.0, 1.0),
    (["09", "count_near", "--params", "ids", "--visible-points", "0.5"], "count_near", "retrieval", 2.0, 0.5),
    (["01_lookup", "lookup_rows", "--points", "1.5", "--params", "ids, E"], "lookup_rows", "lookup", 1.5, 1.0),
)
GENERATED = ["grader/content/reference/retrieval.py", "grader/content/hidden/retrieval.py",
             "grader/samples/mutants/retrieval.py", "grader/content/reference/lookup.py",
             "grader/content/hidden/lookup.py", "grader/samples/mutants/lookup.py"]


def _run(repo: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _source(repo: Path, notebook: str) -> dict:
    return json.loads((repo / "solutions" / notebook / f"{notebook}.ipynb").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("new-exercise") / "checkout")
    for args, name, *_ in SCAFFOLD:
        done = _run(repo, "-m", "grader", "new-exercise", *args)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Traceback" not in done.stderr and name not in done.stderr
    return repo


def test_a_new_notebook_opens_imports_and_closes_like_the_others(repo: Path) -> None:
    nb = nbformat.read(str(repo / "solutions" / NEW / f"{NEW}.ipynb"), as_version=4)
    from nbgrader.nbgraderformat import MetadataValidator

    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)
    ids = [c.id for c in nb.cells]
    assert ids == ["title", "setup", "near_rows-intro", "near_rows", "near_rows_visible", "near_rows_hidden",
                   "count_near-intro", "count_near", "count_near_visible", "count_near_hidden",
                   "experiment-intro", "experiment", "summary"], ids
    assert nb.cells[0].source.startswith("# 09 ") and "you will be able to" in nb.cells[0].source
    assert "import torch" in nb.cells[1].source and nb.cells[1].metadata.nbgrader.locked
    assert nb.cells[11].metadata.tags == ["experiment"]


def test_an_exercise_added_to_a_notebook_goes_after_its_last_exercise_and_changes_nothing_else(repo: Path) -> None:
    from grader.project import SOLUTIONS

    before = nbformat.read(str(SOLUTIONS / "01_lookup" / "01_lookup.ipynb"), as_version=4)
    after = nbformat.read(str(repo / "solutions" / "01_lookup" / "01_lookup.ipynb"), as_version=4)
    at = [c.id for c in after.cells].index("lookup_rows-intro")
    assert after.cells[:at] + after.cells[at + 4:] == before.cells, "cells other than the new four changed"
    assert before.cells[at - 1].id == "linear_from_embedding_hidden", "not after the last exercise"


def test_the_scaffold_releases_with_nbgrader_and_the_student_sees_no_solution(repo: Path) -> None:
    done = _run(repo, "-m", "grader", "release", timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for notebook, name in ((NEW, "near_rows"), (NEW, "count_near"), ("01_lookup", "lookup_rows")):
        released = nbformat.read(str(repo / "course" / notebook / f"{notebook}.ipynb"), as_version=4)
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in released.cells}
        assert cells[name].source.endswith("    # YOUR CODE HERE\n    raise NotImplementedError()")
        assert "BEGIN SOLUTION" not in cells[name].source and "TODO (instructor)" not in cells[name].source
        assert cells[f"{name}_visible"].metadata.nbgrader.locked
        hidden = cells[f"{name}_hidden"].source
        assert "HIDDEN TESTS" not in hidden and "grader." not in hidden and "grade_" not in hidden, hidden
        assert hidden.startswith(f"# Hidden tests for {name}")


def test_the_re_check_sees_the_new_tests_with_the_points_given_once(repo: Path) -> None:
    for _, name, module, points, visible in SCAFFOLD:
        notebook = NEW if module == "retrieval" else "01_lookup"
        source = _source(repo, notebook)
        tests = {t.grade_id: t for t in notebook_tests(source)}
        assert tests[f"{name}_hidden"] == HiddenTest(f"{name}_hidden", module, f"grade_{name}", name, points)
        assert isinstance(tests[f"{name}_visible"], VisibleTest) and tests[f"{name}_visible"].points == visible
        meta = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"] for c in source["cells"]
                if "nbgrader" in c["metadata"]}
        assert (meta[f"{name}_hidden"]["points"], meta[f"{name}_visible"]["points"]) == (points, visible)
        assert meta[name]["solution"] and not meta[name]["grade"], "the answer cell is nbgrader's solution cell"


def test_a_hidden_cell_whose_call_and_metadata_disagree_on_points_is_refused() -> None:
    from grader.project import SOLUTIONS

    source = json.loads((SOLUTIONS / "01_lookup" / "01_lookup.ipynb").read_text(encoding="utf-8"))
    broken = copy.deepcopy(source)
    cell = next(c for c in broken["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "one_hot_hidden")
    cell["metadata"]["nbgrader"]["points"] = 3.0   # the call still says points=2
    with pytest.raises(HiddenTestUnreadable, match=r"'one_hot_hidden' is worth 3 points .* points=2"):
        hidden_tests(broken)


def test_the_hidden_stub_gives_no_points_for_any_answer(repo: Path) -> None:
    probe = """
import json
from grader.content.hidden.lookup import grade_lookup_rows
from grader.content.hidden.retrieval import grade_count_near, grade_near_rows
from grader.content.reference import lookup, retrieval
from grader.samples.mutants import all_mutants

def raises(*args):
    raise NotImplementedError

answers = [lookup.embed_lookup, lookup.lookup_rows, retrieval.near_rows, raises, lambda *a: 1.0, lambda *a: a, None]
scores = [grade(answer, points=points) for grade, points in ((grade_near_rows, 3), (grade_count_near, 2),
                                                             (grade_lookup_rows, 1.5)) for answer in answers]
print(json.dumps({"scores": scores, "mutants": sorted({m.notebook for m in all_mutants()})}))
"""
    done = _run(repo, "-c", probe)
    assert done.returncode == 0, done.stderr[-2000:]
    report, result = done.stdout.rsplit("\n", 2)[0], json.loads(done.stdout.strip().splitlines()[-1])
    assert result["scores"] == [0] * len(result["scores"]), f"a stub gave points: {result['scores']}"
    assert "not written yet" in report and "0 of 3 points" in report, report[-1500:]
    assert "09_retrieval" not in result["mutants"], "the placeholder is a template, not a mutant that passes"


def test_the_generated_python_is_ruff_clean_and_content_imports_only_content(repo: Path) -> None:
    done = _run(repo, "-m", "ruff", "check", *GENERATED)
    assert done.returncode == 0, done.stdout[-3000:]
    for path in GENERATED:
        if path.startswith("grader/content/"):
            assert not grader_imports_outside((repo / path).read_text(encoding="utf-8"), "grader.content"), path


REFUSALS = [  # (arguments, what the message says)
    ([NEW, "near_rows"], "exists already"),                  # scaffolded a moment ago
    (["09", "check_ids"], "exists already"),                  # an exercise of another notebook
    (["09", "one_hot_hidden"], "exists already"),             # a grade id elsewhere
    (["09", "rope_matrix"], "exists already"),                # only a reference function (04's)
    (["01", "merge-pair"], "not a name"),
    (["01", "class"], "not a name"),
    (["01", "_private"], "not a name"),
    (["7_bpe", "merge"], "not a notebook"),
    (["08-bpe", "merge"], "not a notebook"),
    (["08_BPE", "merge"], "not a notebook"),
    (["10", "merge"], "no single notebook numbered 10"),
    (["09_other", "merge"], "number 09 is taken by 09_retrieval"),
    (["01", "merge", "--points", "0"], "not a worth"),
    (["01", "merge", "--visible-points", "-1"], "not a worth"),
    (["01", "merge", "--params", "a b"], "not a parameter list"),
    (["01", "merge", "--params", "x='\"\"\";return points;\"\"\"'"], "may not hold a backslash"),  # ends a docstring
    (["01", "merge", "--params", "x='\\\\'"], "may not hold a backslash"),
    (["08_bpe\n", "merge", "--module", "bpe"], "not a notebook"),                    # a name ending in a newline
    (["01", "merge", "--module", "tied"], "drop --module tied"),
    (["10_bpe", "merge", "--module", "lookup"], "holds the hidden tests of 01_lookup"),
]
# Also run as written, `python -m grader new-exercise …` in a process of its own, and compared with the probe's run.
AS_WRITTEN = ([NEW, "near_rows"], ["10", "merge"])

# Every refusal in one process of the copy: `grader.cli.main(["new-exercise", *args])`, what `python -m grader` runs,
# each in a child forked after the imports (so no case sees another's state, and none pays for Python, nbformat and
# torch again), with its own stdout and stderr; the repository's snapshot (_snapshot, below) before and after each.
# What the imports print would begin every refusal's stderr in a process of its own: the probe's stderr is nothing.
REFUSAL_PROBE = """
import json, os, sys, tempfile, traceback
from pathlib import Path

import grader.cli, grader.commands.new_exercise, grader.integrity.recheck, grader.samples.mutants  # noqa

{snapshot}

def refuse(argv):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()   # nothing of this process's buffers in the child's output
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                code = grader.cli.main(["new-exercise", *argv])
            except SystemExit as exit:   # what the interpreter makes of one (argparse's errors)
                code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
                if code == 1 and not isinstance(exit.code, int):
                    print(exit.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(), err.read().decode()

results = []
for argv in json.loads(sys.argv[1]):
    before = _snapshot(Path.cwd())
    code, out, err = refuse(argv)
    after = _snapshot(Path.cwd())
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    results.append({{"returncode": code, "stdout": out, "stderr": err, "changed": changed}})
print(json.dumps(results))
"""


def _snapshot(repo: Path) -> dict[str, str]:
    return {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for folder in ("grader", "solutions") for p in (repo / folder).rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def refusals(repo: Path) -> dict[tuple[str, ...], dict]:
    """args -> {returncode, stdout, stderr, changed}: every case of REFUSALS, refused by the copy's own grader."""
    probe = REFUSAL_PROBE.format(snapshot="import hashlib\n\n" + inspect.getsource(_snapshot))
    done = _run(repo, "-c", probe, json.dumps([args for args, _ in REFUSALS]))
    assert done.returncode == 0, done.stderr[-3000:]
    assert not done.stderr, f"importing grader.cli, new_exercise, the re-check or the mutants printed: {done.stderr}"
    results = json.loads(done.stdout.strip().splitlines()[-1])
    return {tuple(args): result for (args, _), result in zip(REFUSALS, results, strict=True)}


@pytest.mark.parametrize(("args", "says"), REFUSALS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_refusal_says_why_exits_2_and_writes_nothing(repo: Path, refusals: dict[tuple[str, ...], dict],
                                                       args: list[str], says: str) -> None:
    done = refusals[tuple(args)]
    if args in AS_WRITTEN:
        before = _snapshot(repo)
        ran = _run(repo, "-m", "grader", "new-exercise", *args)
        assert _snapshot(repo) == before, "a refused `python -m grader new-exercise` wrote or removed files"
        assert (ran.returncode, ran.stdout, ran.stderr) == (done["returncode"], done["stdout"], done["stderr"]), (
            f"`python -m grader new-exercise` and grader.cli.main disagree: {ran!r} against {done!r}")
    assert done["returncode"] == 2, done
    stderr = done["stderr"]
    assert stderr.startswith("error: ") and says in stderr and "Traceback" not in stderr, stderr
    assert not done["changed"], f"a refused new-exercise wrote or removed files: {done['changed']}"
