"""Give nbgrader back the cell metadata that editors drop, before grading (the student's file is never touched).

Colab and some VS Code versions save a notebook without nbgrader's cell metadata. nbgrader 0.9 then cannot tell
answer cells from scratch cells, and its ``add_missing_cells`` crashes with ``KeyError`` as soon as two graded
cells in a row are unrecognised. :func:`restore_metadata` works on a copy of the submission: it matches each cell
without metadata to the released notebook — by cell id, then by the ``def``/``class`` line an answer cell starts
with, then by identical source — and copies the released metadata onto it. Graded cells that are still missing
are inserted from the release (test cells verbatim, answer cells as the unanswered stub), each after the cell that
precedes it in the release. A cell carrying the metadata of a grade id the notebook does not have (pasted from
another notebook) becomes a plain cell. The notes say what was done, for the report.
"""

from __future__ import annotations

import copy
import re

import nbformat
from nbformat import NotebookNode

from grader import cells

_DEFINES = re.compile(r"^(?:def|class)\s+(\w+)", re.MULTILINE)


def _first_definition(cell: NotebookNode) -> str | None:
    match = _DEFINES.search(cell.source) if cell.cell_type == "code" else None
    return match.group(1) if match else None


def restore_metadata(submitted: NotebookNode, release: NotebookNode) -> list[str]:
    """Repair ``submitted`` in place against ``release``; return what was repaired (empty: nothing to do)."""
    notes = _deduplicate(submitted) + _unknown_grade_ids(submitted, release)
    graded = [c for c in release.cells if cells.grade_id(c)]
    present = {cells.grade_id(c) for c in submitted.cells if cells.grade_id(c)}
    wanted = [c for c in graded if cells.grade_id(c) not in present]
    if not wanted:
        return notes
    by_id = {c.get("id"): c for c in wanted if c.get("id")}
    by_definition = {_first_definition(c): c for c in wanted
                     if c.metadata["nbgrader"].get("solution") and _first_definition(c)}
    by_source = {c.source.strip(): c for c in wanted if not c.metadata["nbgrader"].get("solution")}
    restored = 0
    for cell in submitted.cells:
        if cells.grade_id(cell):
            continue
        match = (by_id.get(cell.get("id")) or by_definition.get(_first_definition(cell))
                 or by_source.get(cell.source.strip()))
        if match is None or cells.grade_id(match) in present or match.cell_type != cell.cell_type:
            continue
        cell.metadata["nbgrader"] = copy.deepcopy(match.metadata["nbgrader"])
        present.add(cells.grade_id(match))
        restored += 1
    inserted = []
    for index, cell in enumerate(release.cells):
        grade_id = cells.grade_id(cell)
        if not grade_id or grade_id in present:
            continue
        previous = next((cells.grade_id(c) for c in reversed(release.cells[:index]) if cells.grade_id(c) in present),
                        None)
        position = next((i + 1 for i, c in enumerate(submitted.cells) if previous and cells.grade_id(c) == previous), 0)
        fresh = copy.deepcopy(cell)
        fresh["id"] = f"restored-{grade_id}"[:64]
        submitted.cells.insert(position, fresh)
        present.add(grade_id)
        inserted.append(grade_id)
    if restored:
        notes.append(f"nbgrader's metadata was missing from {restored} graded cell(s) (Colab or VS Code?): "
                     "restored by matching them to the release")
    if inserted:
        notes.append(f"cells {', '.join(inserted)} were missing and were put back from the release (an answer cell "
                     "put back is unanswered)")
    return notes


def _deduplicate(submitted: NotebookNode) -> list[str]:
    """A graded cell copied (nbgrader#1083): the last copy keeps the grade id, earlier ones become plain cells.

    nbgrader's own DeduplicateIds leaves the copies with half their metadata, which its add_missing_cells then
    trips over (KeyError 'grade_id')."""
    last = {cells.grade_id(c): i for i, c in enumerate(submitted.cells) if cells.grade_id(c)}
    copies = []
    seen_ids: set[str] = set()
    for i, cell in enumerate(submitted.cells):
        graded = cells.grade_id(cell)
        if graded and last[graded] != i:
            cell.metadata.pop("nbgrader")
            copies.append(graded)
        if cell.get("id") in seen_ids:
            cell["id"] = f"copy-{i}"
        seen_ids.add(cell.get("id"))
    if not copies:
        return []
    return [f"graded cell(s) {', '.join(sorted(set(copies)))} appeared more than once: the last copy was graded"]


def _unknown_grade_ids(submitted: NotebookNode, release: NotebookNode) -> list[str]:
    """Cells whose nbgrader metadata names a grade id this notebook does not have (pasted from another notebook):
    nbgrader cannot grade a notebook with one at all. They become plain cells, their code kept."""
    known = {cells.grade_id(c) for c in release.cells if cells.grade_id(c)}
    unknown = []
    for cell in submitted.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else "?"
        if grade_id and grade_id not in known:
            cell.metadata.pop("nbgrader")
            unknown.append(str(grade_id))
    if not unknown:
        return []
    return [f"cell(s) with grade id(s) {', '.join(sorted(set(unknown)))}, which this notebook does not have (pasted "
            "from another notebook?), were graded as plain cells"]


def repair_bytes(data: bytes, release_path: str) -> tuple[bytes, list[str]]:
    """The submission as bytes, repaired if it needs it; unreadable input is returned as it is."""
    try:
        submitted = nbformat.reads(data.decode("utf-8"), as_version=4)
        release = nbformat.read(release_path, as_version=4)
    except Exception:  # unreadable notebooks are reported elsewhere (executor.unreadable_notebooks)
        return data, []
    notes = restore_metadata(submitted, release)
    return (nbformat.writes(submitted).encode() if notes else data), notes
