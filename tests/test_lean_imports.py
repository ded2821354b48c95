"""``import grader`` leaves jsonschema's IRI parser out of the process (grader/__init__.py), and nothing the grader
validates needs it: nbformat's schemas use no string format, so every notebook of the course validates the same."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

from tests.helpers import all_notebooks

PROBE = """
import json, sys
{first}
import jsonschema, nbformat
from nbformat.validator import get_validator
notebooks = json.loads(sys.argv[1])
errors = {{path: [str(e.message) for e in get_validator(4, 5).iter_errors(nbformat.read(path, as_version=4))]
           for path in notebooks}}
print(json.dumps({{"iri_parser": type(sys.modules.get("rfc3987_syntax")).__name__,
                  "iri_checked": "iri" in jsonschema.FormatChecker().checkers, "errors": errors}}))
"""


def _probe(first: str) -> dict:
    notebooks = [str(p) for p in all_notebooks()]
    done = subprocess.run([sys.executable, "-c", PROBE.format(first=first), json.dumps(notebooks)],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_importing_grader_leaves_the_iri_parser_out_and_every_notebook_validates_the_same() -> None:
    lean = _probe("import grader")
    stock = _probe("")
    assert stock["iri_parser"] == "module" and stock["iri_checked"], (
        "without grader, jsonschema imports rfc3987_syntax (installed with jsonschema[format-nongpl]); if it no "
        "longer does, grader/__init__.py's line is not needed: remove it")
    assert lean["iri_parser"] == "NoneType" and not lean["iri_checked"], lean
    assert lean["errors"] == stock["errors"] and not any(stock["errors"].values()), stock["errors"]


def test_no_notebook_schema_uses_a_string_format() -> None:
    """What the IRI checker could check: a ``format`` keyword in nbformat's schemas. There is none."""
    schemas = sorted(Path(nbformat.__file__).parent.rglob("*.json"))
    assert schemas
    used = [(p.name, value) for p in schemas for value in _formats(json.loads(p.read_text(encoding="utf-8")))]
    assert not used, used


def _formats(node: object) -> list[str]:
    """The value of every ``format`` keyword (a string; an object under that name is a property's schema)."""
    if isinstance(node, dict):
        here = [node["format"]] if isinstance(node.get("format"), str) else []
        return [*here, *(f for v in node.values() for f in _formats(v))]
    if isinstance(node, list):
        return [f for v in node for f in _formats(v)]
    return []
