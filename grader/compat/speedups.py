"""Work nbgrader repeats for every notebook it touches, done once per process instead. Nothing it decides changes.

A grading worker runs nbgrader's ``autograde`` and ``generate_feedback`` for one notebook after another, and the
coordinator writes every result with nbgrader's preprocessors; measured with cProfile over a class, these were the
largest costs that do not depend on the notebook:

* :func:`share_gradebook_engines`: nbgrader makes a new SQLAlchemy engine for every ``Gradebook`` it opens (about
  ten per graded notebook), and a new engine compiles every statement again.
* :func:`check_metadata_schemas_once`: nbgrader checks every cell's nbgrader metadata with ``jsonschema.validate``,
  which first checks nbgrader's *schema* against the JSON-Schema meta-schema: ~0.05 s per notebook, for one schema
  file that never changes.
* :func:`read_alembic_head_in_process`: nbgrader runs the ``alembic heads`` command in a subprocess for every
  gradebook it creates, to learn the schema revision it stamps in it: a second interpreter importing SQLAlchemy and
  alembic, for one constant of the installed nbgrader.
* :func:`save_auto_grades_at_once`: nbgrader's ``SaveAutoGrades`` commits after every cell (and SQLAlchemy then
  reloads every row it holds); the grader's configuration uses this subclass, one transaction per notebook.

:func:`install` applies the first three; it is idempotent, and a forked child keeps the second and starts the first
afresh.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from grader.compat import require_versions

require_versions(__name__, "share_gradebook_engines replaces nbgrader.api.create_engine, check_metadata_schemas_once "
                 "replaces nbgrader.nbgraderformat.common.jsonschema, read_alembic_head_in_process replaces "
                 "nbgrader.api.get_alembic_version, and SaveAutoGradesAtOnce copies nbgrader's "
                 "SaveAutoGrades.preprocess and turns SQLAlchemy's Session.commit into flush: diff those against "
                 "the new versions and run tests/test_compat_equivalence.py and tests/test_nbgrader_speedups.py",
                 ("nbgrader", "sqlalchemy"))

_GRAVEYARD: list[object] = []   # engines a forked child inherited: never used there, never closed there


def install() -> None:
    share_gradebook_engines()
    check_metadata_schemas_once()
    read_alembic_head_in_process()


@functools.cache
def alembic_head() -> str:
    """The head revision of nbgrader's gradebook migrations: what ``alembic heads`` prints first, read in this
    process from the same scripts (nbgrader.dbutil.ALEMBIC_DIR)."""
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    heads = ScriptDirectory(ALEMBIC_DIR).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"nbgrader's gradebook migrations have {len(heads)} heads ({heads}), not one")
    return heads[0]


def read_alembic_head_in_process() -> None:
    """nbgrader's ``get_alembic_version`` (stamped into every new gradebook) without the ``alembic`` subprocess."""
    import nbgrader.api

    if nbgrader.api.get_alembic_version is not alembic_head:
        alembic_head.stock = nbgrader.api.get_alembic_version  # type: ignore[attr-defined]  (for the tests)
        nbgrader.api.get_alembic_version = alembic_head


def share_gradebook_engines() -> None:
    """One SQLAlchemy engine per gradebook URL in this process, instead of one per ``nbgrader.api.Gradebook``.

    nbgrader opens a Gradebook, and with it a new engine, in each preprocessor that touches the database (about ten
    per graded notebook, three per submission written by the coordinator); a new engine compiles every statement
    afresh, which was most of the ~0.24 s of CPU the coordinator spent per submission. ``Gradebook.close`` still
    disposes of the pool's connections; the compiled statements stay. A forked child starts with none (an SQLite
    connection must not cross a fork).
    """
    import nbgrader.api

    if getattr(nbgrader.api.create_engine, "shared_by_grader", False):
        return
    original = nbgrader.api.create_engine
    engines: dict[tuple[str, str], object] = {}

    def create_engine(url: object, **kwargs: object) -> object:
        key = (str(url), repr(sorted(kwargs.items())))
        if key not in engines:
            engines[key] = original(url, **kwargs)
        return engines[key]

    def forget() -> None:
        _GRAVEYARD.extend(engines.values())
        engines.clear()

    create_engine.shared_by_grader = True  # type: ignore[attr-defined]
    nbgrader.api.create_engine = create_engine
    os.register_at_fork(after_in_child=forget)


class _SchemaCheckedOnce:
    """Stands in for the ``jsonschema`` module inside ``nbgrader.nbgraderformat.common``, which only calls
    ``jsonschema.validate(instance, schema)``: the same checks and the same error (the best match), with each
    schema checked against its meta-schema the first time only."""

    def __init__(self) -> None:
        import jsonschema

        self.jsonschema = jsonschema
        self._validators: dict[str, Any] = {}

    def validate(self, instance: Any, schema: dict[str, Any]) -> None:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            cls = self.jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = self._validators[key] = cls(schema)
        error = self.jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.jsonschema, name)


def check_metadata_schemas_once() -> None:
    """nbgrader's cell-metadata validation, with its schema checked once per process instead of once per cell."""
    from nbgrader.nbgraderformat import common

    if not isinstance(common.jsonschema, _SchemaCheckedOnce):
        common.jsonschema = _SchemaCheckedOnce()


@functools.cache
def save_auto_grades_at_once() -> type:
    """nbgrader's ``SaveAutoGrades`` (same rows, same values), in one transaction per notebook."""
    import nbformat
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import SaveAutoGrades

    class SaveAutoGradesAtOnce(SaveAutoGrades):
        """nbgrader's ``SaveAutoGrades``, in one transaction per notebook: its per-cell commits become flushes and
        one commit follows the last cell (no half-written notebook; no reloading every row after every cell)."""

        def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
            # nbconvert validates once, after the last step (``optimistic_validation``, nbgrader_config.py), where
            # stock validates after every step: a notebook the steps before this one made invalid is refused here,
            # before anything of it is scored, as stock refuses it (the same ValidationError).
            nbformat.validate(nb)
            meta = resources["nbgrader"]
            self.notebook_id, self.assignment_id = meta["notebook"], meta["assignment"]
            self.student_id, self.db_url = meta["student"], meta["db_url"]
            self.gradebook = Gradebook(self.db_url)
            with self.gradebook:
                session = self.gradebook.db
                session.commit = session.flush   # for the cells only
                try:
                    nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)
                finally:
                    del session.commit
                session.commit()
            return nb, resources

    return SaveAutoGradesAtOnce
