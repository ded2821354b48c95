"""Feedback a student can act on, without giving the hidden tests away.

nbgrader's ``generate_feedback`` renders the autograded notebook, hidden test code included (nbgrader#917).
:class:`HideHiddenTests` is one more preprocessor in its chain (configured in ``nbgrader_config.py``): in
every test cell it removes the ``### BEGIN/END HIDDEN TESTS`` region and shortens error tracebacks to their
last line, so the student sees each hidden test by its name, its points and its report — never its source.

:class:`FeedbackExporter` is nbconvert's HTML exporter with one change: its templates are compiled once per process,
not once per notebook (jinja's bytecode cache, checked against the template's source). The pages are the same.
"""

from __future__ import annotations

from typing import Any

import jinja2
from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets import List

HIDDEN_NOTE = "# (the code of the hidden tests is not shown; their report is below)"


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden test code and tracebacks from graded notebooks before they are rendered as feedback."""

    # Declared configurable, as in nbgrader's GetGrades: the HTML exporter configures it for every
    # preprocessor, and traitlets warns about classes where it is not.
    display_data_priority = List(GetGrades.display_data_priority.default_value).tag(config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type == "code" and self._remove_hidden_test_region(cell):
            cell.source = (cell.source.rstrip() + "\n" + HIDDEN_NOTE).lstrip("\n")
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    # A traceback quotes the hidden code line by line; the exception itself is the message.
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class _CompiledTemplates(jinja2.BytecodeCache):
    """jinja's compiled templates, kept in memory for the life of the process (a grading worker)."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.store:
            bucket.bytecode_from_string(self.store[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


class FeedbackExporter(HTMLExporter):
    """The HTML exporter of ``generate_feedback``; compiling nbgrader's feedback template cost ~0.2 s per notebook."""

    def _create_environment(self) -> Any:
        environment = super()._create_environment()
        environment.bytecode_cache = _COMPILED
        return environment
