"""What grader.compat.speedups changes in nbgrader decides nothing differently: the cell-metadata check raises
the same errors as nbgrader's own ``jsonschema.validate`` call, on valid and broken metadata, and every new gradebook
is stamped with the schema revision nbgrader's ``alembic heads`` subprocess prints."""

from __future__ import annotations

import copy

import jsonschema
import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator, common

from grader.compat.speedups import _SchemaCheckedOnce, check_metadata_schemas_once
from grader.project import SOLUTIONS


def _graded_cell() -> nbformat.NotebookNode:
    nb = nbformat.read(str(SOLUTIONS / "01_lookup" / "01_lookup.ipynb"), as_version=4)
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))


BROKEN = {
    "points are text": lambda meta: meta.update(points="two"),
    "grade_id is a number": lambda meta: meta.update(grade_id=3),
    "schema_version missing": lambda meta: meta.pop("schema_version"),
    "grade is not a bool": lambda meta: meta.update(grade="yes"),
    "unknown key": lambda meta: meta.update(surprise=1),
}


@pytest.mark.parametrize("name", [None, *BROKEN])
def test_metadata_check_gives_nbgraders_verdict(name: str | None) -> None:
    schema = MetadataValidator().schema
    meta = copy.deepcopy(dict(_graded_cell().metadata["nbgrader"]))
    if name:
        BROKEN[name](meta)

    def verdict(check: object) -> str:
        try:
            check.validate(meta, schema)  # type: ignore[attr-defined]
        except jsonschema.ValidationError as err:
            return f"{type(err).__name__}: {err.message} at {list(err.path)}"
        return "valid"

    expected = verdict(jsonschema)
    assert (expected == "valid") == (name is None)
    assert verdict(_SchemaCheckedOnce()) == expected


def test_installed_check_is_used_by_nbgrader() -> None:
    check_metadata_schemas_once()
    check_metadata_schemas_once()  # idempotent
    assert isinstance(common.jsonschema, _SchemaCheckedOnce)
    cell = _graded_cell()
    MetadataValidator().validate_cell(cell)
    cell.metadata["nbgrader"]["points"] = "two"
    with pytest.raises(jsonschema.ValidationError, match="two"):
        MetadataValidator().validate_cell(cell)


def test_the_alembic_head_read_in_process_is_the_one_nbgraders_subprocess_prints() -> None:
    """nbgrader's own ``get_alembic_version`` runs ``alembic heads`` (from this interpreter's bin/, as nbgrader
    needs it); the in-process read must stamp the same revision in every new gradebook."""
    import nbgrader.api

    from grader.compat import speedups
    from grader.project import ensure_tools_on_path

    ensure_tools_on_path()
    speedups.read_alembic_head_in_process()
    speedups.read_alembic_head_in_process()  # idempotent
    assert nbgrader.api.get_alembic_version is speedups.alembic_head
    stock = speedups.alembic_head.stock
    assert stock.__module__ == "nbgrader.api" and stock.__name__ == "get_alembic_version"
    assert speedups.alembic_head() == stock()
