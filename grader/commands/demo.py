"""``grader demo``: build a sample class, autograde it, print the table and where everything went.

The class is built from the current notebooks: one student hands in the full solution, one the untouched
release, one stops halfway, and the others make the mistakes students really make (from
:mod:`grader.samples.mutants`). The notebooks are packed into a zip file named the way an LMS exports them
(``<student>_<notebook>.ipynb``) and graded from there, exactly as an instructor would grade a class.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.project import GraderError, graded_assignments, resolve_path
from grader.samples.hostile import DEMO_ATTACKS
from grader.samples.hostile import NOTEBOOK as ATTACKED_NOTEBOOK
from grader.samples.mutants import by_name
from grader.samples.submissions import answer_cells, fill

MARKER = ".grader-demo"  # a demo workspace is only ever wiped if it carries this file


@dataclass(frozen=True)
class Persona:
    student: str
    note: str
    mistakes: tuple[str, ...] = ()          # mutant names
    solve: bool = True                      # False: the untouched release
    stop_after: tuple[str, ...] = ()        # leave every answer cell after these grade_ids unsolved
    written: bool = True                    # answers the written questions
    attacks: dict[str, str] | None = None   # grade_id -> hostile source (grader.samples.hostile), 01_lookup only


PERSONAS: tuple[Persona, ...] = (
    Persona("ada", "full solution"),
    Persona("blank", "untouched release", solve=False, written=False),
    Persona("ben", "F.one_hot habits; G[ids] += g drops repeated ids; BPE merges by frequency, not rank; "
            "argsort()[::-1] for largest first",
            ("one_hot_width_from_batch", "embedding_onehot_no_num_classes", "grad_buffered_add",
             "sgd_buffered_update", "tied_grad_buffered", "rope_mixed_layout", "slopes_naive_formula",
             "quantize_truncates", "encode_most_frequent", "wordpiece_shortest_first", "nn_reversed_argsort")),
    Persona("chen", "dtype slips: float64 product, float32-only Linear, float64 gradient; code points for bytes; "
            "log(sigmoid) that overflows",
            ("embed_onehot_float64", "linear_float32_only", "grad_float64_zeros", "rope_float64_out",
             "factorize_float64", "dequantize_uint8_wraps", "train_code_points", "decode_latin1",
             "sgns_log_of_sigmoid")),
    Persona("dana", "never rejects negative ids (or a vocabulary below 256, or a zero row)",
            ("check_ids_no_negative", "embed_lookup_no_validation", "embedding_no_validation",
             "function_no_validation", "learned_no_validation", "slopes_zero_based", "train_no_check",
             "cos_no_zero_check")),
    Persona("eli", "detached output; copies where it should share; padding ignored; decodes ids one by one; "
            "a loss through numpy",
            ("embedding_detached", "linear_shares_storage", "grad_ignores_padding", "function_ignores_padding",
             "tiny_lm_copies", "count_state_dict", "attention_mask_after_softmax", "decode_each_id",
             "sgns_through_numpy")),
    Persona("fay", "stopped halfway through each notebook",
            stop_after=("embed_lookup", "sparse_embedding_grad", "count_parameters", "rope_angles", "alibi_bias",
                        "factorized_embedding", "encode", "analogy"),
            written=False),
    Persona("mallory", "cheats: rewrites the test cells into `pass`, patches the hidden tests' scoring",
            attacks=DEMO_ATTACKS),
)


def build_notebook(persona: Persona, assignment_name: str, notebook: str) -> nbformat.NotebookNode:
    """The notebook ``persona`` hands in for ``notebook``."""
    assignment = next(a for a in graded_assignments() if a.name == assignment_name)
    mutants = [by_name(name) for name in persona.mistakes]
    replace = {m.cell: m.source for m in mutants if m.notebook == notebook}
    if persona.attacks and notebook == ATTACKED_NOTEBOOK:
        replace.update(persona.attacks)
    if not persona.solve:
        return fill(assignment, notebook, solve=False)
    nb = fill(assignment, notebook, replace)
    if persona.stop_after or not persona.written:
        release = answer_cells(fill(assignment, notebook, solve=False))
        seen_stop = False
        for grade_id, cell in answer_cells(nb).items():
            is_written = cell.cell_type == "markdown"
            if (seen_stop and not is_written) or (is_written and not persona.written):
                cell.source = release[grade_id].source
            seen_stop = seen_stop or grade_id in persona.stop_after
    return nb


def write_lms_zip(path: Path, personas: tuple[Persona, ...] = PERSONAS) -> Path:
    """The class's notebooks as an LMS exports them: a flat zip of ``<student>_<notebook>.ipynb``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for persona in personas:
            for assignment in graded_assignments():
                for notebook in assignment.notebooks:
                    nb = build_notebook(persona, assignment.name, notebook)
                    archive.writestr(f"{persona.student}_{notebook}.ipynb", nbformat.writes(nb))
    return path


def fresh_workspace(root: Path) -> None:
    """Empty ``root`` for a new demo; refuse to wipe a folder that is not a demo workspace."""
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise GraderError(f"{root} exists and is not a demo workspace (no {MARKER} file): "
                              "choose another --root or remove it yourself.")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("created by `python -m grader demo`; safe to delete\n")


def run_demo(root: Path, jobs: int | None, say: Callable[[str], None]) -> int:
    """Build the sample class in ``root``, grade it, print the results. Returns the CLI exit code."""
    from grader.commands.autograde import grade_and_report

    root = resolve_path(root)
    fresh_workspace(root)
    archive = write_lms_zip(root / "lms-export.zip")
    say(f"sample class: {len(PERSONAS)} students, packed as an LMS export in {archive}")
    notes = {p.student: p.note for p in PERSONAS}
    return grade_and_report(archive, root, db_url=None, jobs=jobs, students=None, notes=notes)
