"""The re-check cannot silently skip a test: it re-checks exactly the autograded test cells of every notebook, and
a hidden test cell it cannot read is an error naming the cell."""

from __future__ import annotations

import copy
import json

import pytest

from grader.cells import grade_id, is_hidden_test, is_test_cell
from grader.integrity.recheck import HiddenTest, HiddenTestUnreadable, hidden_tests, notebook_tests
from grader.project import graded_assignments


def _sources() -> list[tuple[str, dict]]:
    return [(nb, json.loads((a.source_dir / f"{nb}.ipynb").read_text(encoding="utf-8")))
            for a in graded_assignments() for nb in a.notebooks]


@pytest.mark.parametrize(("name", "source"), _sources(), ids=[name for name, _ in _sources()])
def test_every_autograded_test_cell_is_re_checked_once(name: str, source: dict) -> None:
    tests = notebook_tests(source)
    checked = [t.grade_id for t in tests]
    graded = [grade_id(c) for c in source["cells"] if is_test_cell(c)]
    assert sorted(checked) == sorted(graded), f"{name}: re-checked {sorted(checked)}, graded {sorted(graded)}"
    assert len(set(checked)) == len(checked), f"{name}: a test is re-checked twice"
    hidden = {grade_id(c) for c in source["cells"] if is_hidden_test(c)}
    assert {t.grade_id for t in tests if isinstance(t, HiddenTest)} == hidden, name


@pytest.mark.parametrize("last_line", ["result = grade_one_hot(one_hot, points=2)", "print('no call')",
                                       "grade_one_hot('one_hot')"])
def test_a_hidden_cell_the_re_check_cannot_read_is_an_error_naming_it(last_line: str) -> None:
    source = next(s for _, s in _sources() if any(is_hidden_test(c) for c in s["cells"]))
    broken = copy.deepcopy(source)
    cell = next(c for c in broken["cells"] if is_hidden_test(c))
    lines = "".join(cell["source"]).rstrip().split("\n")
    cell["source"] = "\n".join([*lines[:-1], last_line])
    with pytest.raises(HiddenTestUnreadable, match=repr(grade_id(cell))):
        hidden_tests(broken)
