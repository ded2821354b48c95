"""The integrity report: what the out-of-process re-check (grader.integrity.recheck) found, for the whole class.

``ROOT/integrity.json`` keeps every verdict of the latest grading of each submission (so an incremental re-grade
keeps the report of the submissions it skipped); ``ROOT/integrity.csv`` lists, one row per hidden test, the tests
that scored lower outside the student's kernel (*flagged*) — with both scores and the reason —, the tests whose
re-check could not finish (*could not be verified*: the lower score counts until someone reviews them), and the tests
that scored higher outside the kernel (a fault of the grading environment, reported as such).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from grader.integrity.recheck import Verdict, loads
from grader.project import spreadsheet_safe  # reasons quote what the student's code raised

JSON_FILE = "integrity.json"
CSV_FILE = "integrity.csv"
FLAGGED = "flagged"
UNVERIFIED = "could not be verified"
ENVIRONMENT = "grading environment"
COLUMNS = ("student", "assignment", "notebook", "test", "in_kernel", "out_of_process", "max_points", "status",
           "reason")


class IntegrityLog:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.json_path = root / JSON_FILE
        self.csv_path = root / CSV_FILE
        try:
            self.entries: dict[str, dict[str, list[dict[str, Any]]]] = json.loads(self.json_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            self.entries = {}

    def record(self, student: str, assignment: str, integrity: dict[str, bytes]) -> None:
        self.entries[f"{student}/{assignment}"] = {nb: [v.__dict__ for v in loads(data)]
                                                   for nb, data in integrity.items()}

    def verdicts(self) -> list[tuple[str, str, str, Verdict]]:
        return [(slot.split("/")[0], slot.split("/")[1], nb, Verdict(**v))
                for slot, notebooks in sorted(self.entries.items())
                for nb, verdicts in sorted(notebooks.items()) for v in verdicts]

    def rows(self) -> list[dict[str, Any]]:
        """Flagged tests, and tests whose re-check failed; the fine ones are left out."""
        rows = []
        for student, assignment, notebook, v in self.verdicts():
            if v.flagged:
                status = f"{FLAGGED}: the lower, out-of-process score counts"
            elif v.unverified:
                status = f"{UNVERIFIED}: the re-check did not finish; the lower score counts until reviewed"
            elif v.higher_outside:
                status = f"{ENVIRONMENT}: scored higher out of process than in the kernel; the in-kernel score stands"
            else:
                continue
            rows.append({"student": student, "assignment": assignment, "notebook": notebook, "test": v.grade_id,
                         "in_kernel": v.in_kernel, "out_of_process": v.out_of_process, "max_points": v.max_points,
                         "status": status, "reason": v.reason})
        return rows

    def flagged(self) -> list[dict[str, Any]]:
        """Tests that scored higher in the kernel than in a re-check that ran to the end."""
        return [row for row in self.rows() if row["status"].startswith(FLAGGED)]

    def unverified(self) -> list[dict[str, Any]]:
        """Tests whose re-check could not finish (a deadline, a lost process, an error): for review."""
        return [row for row in self.rows() if row["status"].startswith(UNVERIFIED)]

    def environment(self) -> list[dict[str, Any]]:
        """Tests that scored higher out of process than in the kernel: a fault of the grading, to investigate."""
        return [row for row in self.rows() if row["status"].startswith(ENVIRONMENT)]

    def save(self) -> None:
        tmp = self.json_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True, ensure_ascii=False))
        tmp.replace(self.json_path)
        with self.csv_path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in self.rows())

    def summary(self) -> str:
        verdicts = self.verdicts()
        rechecked = sum(v.out_of_process is not None for *_, v in verdicts)
        notebooks = len({(student, notebook) for student, _, notebook, _ in verdicts})
        flagged = self.flagged()
        students = sorted({row["student"] for row in flagged})
        line = (f"integrity (whole workspace): {rechecked} test(s) of {notebooks} notebook(s) re-checked outside the "
                f"students' kernels, {len(flagged)} flagged")
        line += f" ({', '.join(students)})" if flagged else ""
        unverified = self.unverified()
        if unverified:
            line += (f", {len(unverified)} {UNVERIFIED} "
                     f"({', '.join(sorted({row['student'] for row in unverified}))})")
        environment = self.environment()
        if environment:
            line += f", {len(environment)} scored higher out of process than in the kernel ({ENVIRONMENT})"
        return line + (f": see {self.csv_path}" if flagged or unverified or environment else "")
