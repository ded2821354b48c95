"""The instructor side of *Embedding Layers, from first principles*.

The command line is ``python -m grader`` (:mod:`grader.cli`). Importing the package imports nothing but :mod:`sys`,
and does one thing, before anything imports nbformat:

**jsonschema's parser for the "iri" string format is left out of this process.** nbformat imports jsonschema, whose
``_format`` module imports every optional format checker it finds; the one for "iri" and "iri-reference",
``rfc3987_syntax`` (installed with ``jsonschema[format-nongpl]``, which jupyter_events requires), compiles its Earley
grammar when imported: ~1.9 s of every ``python -m grader`` command, Dask worker and test subprocess, more than the
rest of their imports together (jsonschema#1428, opendatahub-io/notebooks#3532). No schema of nbformat holds a
``format`` keyword and neither nbformat nor nbgrader validates with a format checker, so nothing this package does
validates an IRI; the checker is simply not registered (jsonschema skips a checker whose module cannot be imported).
``tests/test_lean_imports.py`` holds both facts and shows the difference; ``benchmarks/bench_imports.py`` measures it.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # None: `import rfc3987_syntax` raises ImportError, as if absent
