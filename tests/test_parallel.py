"""Fast grading changes no score: sequential, parallel, cold, warm and Dask runs write the same gradebook rows (what
a run that goes wrong does: tests/test_interruptions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading.engine import autograde
from grader.grading.executor import DaskExecutor, LocalExecutor
from grader.project import default_db_url, notebook_index
from tests.conftest import SAMPLE, GradedClass, submit_like_the_class
from tests.helpers import rows_of


def test_sequential_cold_grading_matches_the_parallel_warm_class(graded_sample: GradedClass, workspace: Path) -> None:
    submit_like_the_class(workspace, SAMPLE)
    outcomes = autograde(workspace, executor=LocalExecutor(1, warm=False), progress=lambda line: None)
    assert all(o.ok for o in outcomes), [o.problem for o in outcomes if not o.ok]
    students = {s for s, _ in SAMPLE}
    sequential = rows_of(default_db_url(workspace), students)
    parallel = {k: v for k, v in rows_of(graded_sample.db_url, students).items() if (k[0], k[2]) in set(SAMPLE)}
    assert sequential and sequential == parallel
    index = notebook_index()
    for student, notebook in SAMPLE:  # and the same feedback, byte for byte
        relative = Path("feedback") / student / index[notebook].name / f"{notebook}.html"
        assert (workspace / relative).read_bytes() == (graded_sample.root / relative).read_bytes(), relative


def test_dask_local_cluster_matches_the_class(graded_sample: GradedClass, workspace: Path) -> None:
    pytest.importorskip("distributed")
    sample = SAMPLE[:2]
    submit_like_the_class(workspace, sample)
    outcomes = autograde(workspace, executor=DaskExecutor("local", jobs=2), progress=lambda line: None)
    assert all(o.ok for o in outcomes), [o.problem for o in outcomes if not o.ok]
    students = {s for s, _ in sample}
    expected = {k: v for k, v in rows_of(graded_sample.db_url, students).items() if (k[0], k[2]) in set(sample)}
    assert rows_of(default_db_url(workspace), students) == expected
