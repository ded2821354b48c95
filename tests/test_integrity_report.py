"""The integrity report as an instructor opens it: every row that needs a look, and no cell a spreadsheet would run."""

from __future__ import annotations

import csv
from pathlib import Path

from grader.integrity.recheck import Verdict, dumps
from grader.integrity.report import IntegrityLog


def test_the_csv_lists_flagged_and_environment_rows_and_no_cell_is_a_formula(tmp_path: Path) -> None:
    log = IntegrityLog(tmp_path)
    log.record("ada", "01_lookup", {"01_lookup": dumps([
        Verdict("one_hot_hidden", "one_hot", 2.0, 0.0, 2.0, '=HYPERLINK("http://x","click")'),
        Verdict("embed_lookup_hidden", "embed_lookup", 0.0, 2.0, 2.0, "+1"),
        Verdict("check_ids_hidden", "check_ids", 2.0, 2.0, 2.0, ""),
    ])})
    log.save()
    with log.csv_path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [(r["test"], r["status"].split(":")[0]) for r in rows] == [
        ("one_hot_hidden", "flagged"), ("embed_lookup_hidden", "grading environment")]
    assert rows[0]["reason"].startswith("'=") and rows[1]["reason"] == "'+1"
    for row in rows:
        for value in row.values():
            assert value[:1] not in ("=", "+", "-", "@"), row
    assert "1 flagged" in log.summary() and "1 scored higher out of process" in log.summary()
