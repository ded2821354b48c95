"""Submissions come in as nbgrader folders or LMS zips; they are copied byte for byte, and nothing else."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from grader.commands.collect import collect
from grader.project import GraderError

NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_flat_lms_zip(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "export.zip", {
        "ada_01_lookup.ipynb": NB,
        "ada_lovelace_01_lookup.ipynb": NB + b" ",
        "ben_01_lookup-2.ipynb": NB,
        "notes.txt": b"hello",
        "carol_02_unknown.ipynb": NB,
    })
    result = collect(archive, tmp_path / "ws")
    assert result.submissions == {("ada", "01_lookup"), ("ada_lovelace", "01_lookup"), ("ben", "01_lookup")}
    assert (tmp_path / "ws/submitted/ada_lovelace/01_lookup/01_lookup.ipynb").read_bytes() == NB + b" "
    assert any("notes.txt" in p for p in result.problems)
    assert any("carol_02_unknown.ipynb" in p and "not a submission" in p for p in result.problems)


def test_nbgrader_layout_folder_is_copied_byte_for_byte(tmp_path: Path) -> None:
    src = tmp_path / "submitted"
    for student in ("ada", "ben"):
        (src / student / "01_lookup").mkdir(parents=True)
        (src / student / "01_lookup" / "01_lookup.ipynb").write_bytes(NB + student.encode())
    before = {p: _sha(p) for p in src.rglob("*.ipynb")}
    result = collect(src, tmp_path / "ws")
    assert result.submissions == {("ada", "01_lookup"), ("ben", "01_lookup")}
    assert {p: _sha(p) for p in src.rglob("*.ipynb")} == before, "the originals were modified"
    for student in ("ada", "ben"):
        copied = tmp_path / "ws/submitted" / student / "01_lookup/01_lookup.ipynb"
        assert copied.read_bytes() == NB + student.encode()


def test_nbgrader_layout_zip_with_a_top_folder(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "class.zip", {"class-2026/submitted/ada/01_lookup/01_lookup.ipynb": NB,
                                            "class-2026/submitted/ada/01_lookup/timestamp.txt": b"2026-11-20 10:00:00"})
    assert collect(archive, tmp_path / "ws").submissions == {("ada", "01_lookup")}
    assert (tmp_path / "ws/submitted/ada/01_lookup/timestamp.txt").read_bytes() == b"2026-11-20 10:00:00", \
        "nbgrader's timestamp (late penalties) must travel with the submission"


def test_the_exchange_files_travel_with_a_submission_and_an_oversized_one_is_left_out(tmp_path: Path) -> None:
    src = tmp_path / "submitted"
    secret = b"0123456789abcdef" * 8                     # what nbgrader's submit writes: 64 random bytes in hex
    for student, side in (("ada", secret), ("ben", b"x" * 5000)):
        folder = src / student / "01_lookup"
        folder.mkdir(parents=True)
        (folder / "01_lookup.ipynb").write_bytes(NB)
        (folder / "timestamp.txt").write_bytes(b"2026-11-20 10:00:00.000000 UTC")
        (folder / "submission_secret.txt").write_bytes(side)
    result = collect(src, tmp_path / "ws")
    assert result.submissions == {("ada", "01_lookup"), ("ben", "01_lookup")}, "a bad side file costs no grade"
    ada = tmp_path / "ws/submitted/ada/01_lookup"
    assert (ada / "submission_secret.txt").read_bytes() == secret, "nbgrader release_feedback needs the secret"
    assert (ada / "timestamp.txt").read_bytes() == b"2026-11-20 10:00:00.000000 UTC"
    assert not (tmp_path / "ws/submitted/ben/01_lookup/submission_secret.txt").exists()
    too_large = [p for p in result.problems if "ben/01_lookup/submission_secret.txt" in p]
    assert len(too_large) == 1 and "larger than 1,024 bytes" in too_large[0], result.problems
    assert not any("ada" in p for p in result.problems), result.problems


def test_zip_names_cannot_escape_the_workspace(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "evil.zip", {
        "../../outside_01_lookup.ipynb": NB,
        "/abs/ada/01_lookup/01_lookup.ipynb": NB,
        "../ ../x_01_lookup.ipynb": NB,
    })
    ws = tmp_path / "ws"
    collect(archive, ws)
    written = [p for p in tmp_path.rglob("*.ipynb")]
    assert all(ws in p.parents for p in written), written


def test_unusable_student_ids_are_reported(tmp_path: Path) -> None:
    bad = (".hidden", "-rf", "=HYPERLINK(1)", "@cmd", "=1+2")
    archive = _zip(tmp_path / "x.zip", {**{f"{b}_01_lookup.ipynb": NB for b in bad}, "ok_01_lookup.ipynb": NB})
    result = collect(archive, tmp_path / "ws")
    assert result.submissions == {("ok", "01_lookup")}
    assert sum("not a usable student id" in p for p in result.problems) == len(bad), result.problems
    assert sorted(p.name for p in (tmp_path / "ws" / "submitted").iterdir()) == ["ok"]


def test_duplicate_submissions_keep_the_newest_and_say_so(tmp_path: Path) -> None:
    archive = tmp_path / "dup.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(zipfile.ZipInfo("ada_01_lookup.ipynb", (2026, 1, 1, 10, 0, 0)), NB + b"old")
        z.writestr(zipfile.ZipInfo("ada_01_lookup-1.ipynb", (2026, 1, 2, 10, 0, 0)), NB + b"new")
    result = collect(archive, tmp_path / "ws")
    assert (tmp_path / "ws/submitted/ada/01_lookup/01_lookup.ipynb").read_bytes() == NB + b"new"
    assert any("twice" in p and "ada_01_lookup-1.ipynb" in p for p in result.problems)


@pytest.mark.parametrize("names", [
    ("ada_01_lookup.ipynb", "ada_01_lookup-2.ipynb"),
    ("ada_01_lookup-2.ipynb", "ada_01_lookup.ipynb"),
    ("ada_01_lookup-10.ipynb", "ada_01_lookup-2.ipynb"),
])
def test_a_resubmission_with_the_same_time_wins_the_tie(tmp_path: Path, names: tuple[str, str]) -> None:
    """LMS exports often carry one time for every file: the higher resubmission number (numerically) is the newer."""
    newest = max(names, key=lambda n: int(n.removesuffix(".ipynb").rpartition("-")[2] or 0)
                 if "-" in n else 0)
    archive = tmp_path / "tie.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in names:
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 10, 0, 0)), NB + name.encode())
    result = collect(archive, tmp_path / "ws")
    assert (tmp_path / "ws/submitted/ada/01_lookup/01_lookup.ipynb").read_bytes() == NB + newest.encode()
    assert any(f"graded {newest}" in p and "later resubmission" in p for p in result.problems), result.problems


@pytest.mark.parametrize("make", [
    lambda d: d / "missing.zip",
    lambda d: (d / "not-a-zip.zip").write_text("plain text") and d / "not-a-zip.zip",
    lambda d: _zip(d / "empty.zip", {"readme.md": b"nothing here"}),
])
def test_bad_input_is_a_clear_error(tmp_path: Path, make) -> None:
    with pytest.raises(GraderError) as err:
        collect(make(tmp_path), tmp_path / "ws")
    assert str(tmp_path) in str(err.value)


def test_paths_are_resolved_where_they_enter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.project import absolute_db_url, gradebook_url, resolve_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_path("ws") == tmp_path / "ws"
    assert resolve_path("~/classes") == tmp_path / "home" / "classes"
    assert absolute_db_url("sqlite:///grades.db") == f"sqlite:///{tmp_path}/grades.db"
    assert absolute_db_url("sqlite:///~/g.db?timeout=5") == f"sqlite:///{tmp_path}/home/g.db?timeout=5"
    for unchanged in ("sqlite:////abs/g.db", "sqlite://", "sqlite:///:memory:", "postgresql+psycopg2://u@db/emb"):
        assert absolute_db_url(unchanged) == unchanged
    assert gradebook_url(Path("ws")) == f"sqlite:///{tmp_path}/ws/gradebook.db?timeout=60"
    _zip(Path("in.zip"), {"ada_01_lookup.ipynb": NB})
    collected = collect(Path("in.zip"), Path("ws"))   # relative both ways
    assert collected.submissions == {("ada", "01_lookup")}
    assert (tmp_path / "ws/submitted/ada/01_lookup/01_lookup.ipynb").read_bytes() == NB


def test_a_submission_is_kept_only_for_the_same_gradebook_sandbox_and_code(tmp_path: Path) -> None:
    """The incremental plan: unchanged bytes are not enough when the gradebook, the limits or the code changed, when
    the gradebook it was recorded in has been deleted, or when its autograded notebook is not the one the grader
    wrote (graded again by something else since)."""
    from grader.grading import written
    from grader.grading.engine import Plan, _save_state
    from grader.grading.sandbox import Isolation, Limits

    root = tmp_path / "ws"
    (root / "submitted" / "ada" / "01_lookup").mkdir(parents=True)
    (root / "submitted" / "ada" / "01_lookup" / "01_lookup.ipynb").write_bytes(NB)
    autograded = root / "autograded" / "ada" / "01_lookup"
    autograded.mkdir(parents=True)
    (autograded / "01_lookup.ipynb").write_bytes(NB + b"graded")
    db = root / "gradebook.db"
    db.write_bytes(b"")
    url = f"sqlite:///{db}"
    pairs = [("ada", "01_lookup")]
    first = Plan.make(root, pairs, "code-1", False, url, Isolation())
    assert [t.student for t in first.todo] == ["ada"]
    _save_state(root, {"ada/01_lookup": first.keys["ada/01_lookup"]})
    assert Plan.make(root, pairs, "code-1", False, url, Isolation()).todo, "kept with no record of what was written"
    _save_state(root, {"ada/01_lookup": first.keys["ada/01_lookup"],
                       "ada/01_lookup autograded": written.record(autograded, {"01_lookup": NB + b"graded"})})
    assert Plan.make(root, pairs, "code-1", False, url, Isolation()).kept, "an unchanged submission was not kept"
    os.utime(autograded / "01_lookup.ipynb", ns=(1, 1))     # the same bytes at another time (a copy): still ours
    assert Plan.make(root, pairs, "code-1", False, url, Isolation()).kept, "the same bytes were not taken as ours"
    (autograded / "01_lookup.ipynb").write_bytes(NB + b"graded by someone else")
    rewritten = Plan.make(root, pairs, "code-1", False, url, Isolation())
    assert rewritten.todo and rewritten.overwritten == ["ada/01_lookup"], "a rewritten autograded notebook was kept"
    (autograded / "01_lookup.ipynb").write_bytes(NB + b"graded")
    assert Plan.make(root, pairs, "code-1", False, url, Isolation()).kept
    for changed in (Plan.make(root, pairs, "code-2", False, url, Isolation()),
                    Plan.make(root, pairs, "code-1", False, f"sqlite:///{tmp_path / 'other.db'}", Isolation()),
                    Plan.make(root, pairs, "code-1", False, url, Isolation(limits=Limits(memory=2 * 1024**3))),
                    Plan.make(root, pairs, "code-1", True, url, Isolation())):
        assert changed.todo and not changed.kept
    db.unlink()
    assert Plan.make(root, pairs, "code-1", False, url, Isolation()).todo, "kept although the gradebook is gone"


@pytest.mark.parametrize("inside", ["course", "solutions/fall", "grader/ws"])
def test_a_workspace_inside_the_course_or_the_grading_code_is_refused(inside: str) -> None:
    from grader.grading.engine import autograde
    from grader.project import REPO

    with pytest.raises(GraderError, match="inside"):
        autograde(REPO / inside, progress=lambda line: None)
    assert not (REPO / "solutions" / "fall").exists() and not (REPO / "grader" / "ws").exists()


@pytest.mark.parametrize("how", ["dot-dot", "link"])
def test_a_gradebook_that_only_looks_outside_the_course_is_refused(how: str, tmp_path: Path) -> None:
    from grader.project import REPO, check_workspace

    if how == "dot-dot":
        url = f"sqlite:///{tmp_path}/../{'../' * len(tmp_path.parts)}{REPO.relative_to('/')}/solutions/fall.db"
    else:
        (tmp_path / "elsewhere").symlink_to(REPO / "grader")
        url = f"sqlite:///{tmp_path}/elsewhere/fall.db"
    with pytest.raises(GraderError, match="inside"):
        check_workspace(tmp_path / "ws", url)


def test_a_notebook_over_the_size_limit_is_left_out_with_a_note(tmp_path: Path) -> None:
    """A zip bomb: a few kilobytes that inflate past the limit. Nothing beyond the limit is written."""
    from grader.commands import collect as collect_module

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("eve_01_lookup.ipynb", b"0" * (collect_module.MAX_NOTEBOOK_BYTES + 1))
        z.writestr("ada_01_lookup.ipynb", NB)
    assert archive.stat().st_size < 200_000
    result = collect(archive, tmp_path / "ws")
    assert result.submissions == {("ada", "01_lookup")}
    assert any("eve_01_lookup.ipynb: larger than 32 MB" in p for p in result.problems), result.problems
    assert not (tmp_path / "ws" / "submitted" / "eve" / "01_lookup" / "01_lookup.ipynb").exists()


def test_a_zip_with_a_name_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    import struct

    archive = _zip(tmp_path / "names.zip", {"ada_01_lookup.ipynb": NB})
    data = bytearray(archive.read_bytes().replace(b"ada_01_lookup.ipynb", b"\xff\xfe\xfd_01_lookup.ipynb"))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the "names are UTF-8" flag
        at = data.find(signature) + offset
        data[at:at + 2] = struct.pack("<H", struct.unpack("<H", data[at:at + 2])[0] | 0x800)
    archive.write_bytes(bytes(data))
    with pytest.raises(GraderError, match="cannot be read as a zip file") as err:
        collect(archive, tmp_path / "ws")
    assert "unzip it and give the folder" in str(err.value)


def test_a_damaged_member_costs_only_its_student(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "damaged.zip", {"eve_01_lookup.ipynb": NB * 50, "ada_01_lookup.ipynb": NB})
    data = bytearray(archive.read_bytes())
    at = data.find(NB[:20])  # eve's stored bytes: flip some so the CRC check fails
    data[at + 5:at + 9] = b"XXXX"
    archive.write_bytes(bytes(data))
    result = collect(archive, tmp_path / "ws")
    assert result.submissions == {("ada", "01_lookup")}
    assert any("eve_01_lookup.ipynb: cannot be read" in p for p in result.problems), result.problems


def test_symbolic_links_in_a_folder_of_submissions_are_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "ada" / "01_lookup").mkdir(parents=True)
    (folder / "ada" / "01_lookup" / "01_lookup.ipynb").write_bytes(NB)
    (folder / "eve" / "01_lookup").mkdir(parents=True)
    secret = tmp_path / "secret.ipynb"
    secret.write_bytes(b"instructor only")
    (folder / "eve" / "01_lookup" / "01_lookup.ipynb").symlink_to(secret)
    result = collect(folder, tmp_path / "ws")
    assert result.submissions == {("ada", "01_lookup")}
    assert not (tmp_path / "ws" / "submitted" / "eve").exists()
