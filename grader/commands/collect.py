"""Bring student submissions into a workspace's ``submitted/<student>/<assignment>/`` folders.

Two layouts are understood, in a folder or in a zip file:

* nbgrader's: ``[…/]<student>/<assignment>/<notebook>.ipynb`` (what ``nbgrader collect`` produces);
* an LMS export: a flat set of ``<student>_<notebook>.ipynb`` files, optionally with a resubmission
  suffix (``ada_01_lookup-2.ipynb``); the student id is everything before ``_<notebook>``.

Files are copied byte for byte — a submission is never modified — and nothing is extracted by the names a
zip file chooses: every destination is built from a validated student id and a known notebook name, so
``../`` in an archive cannot write outside the workspace. Anything not understood is reported, not fatal.
"""

from __future__ import annotations

import contextlib
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from grader.project import (
    EXCHANGE_FILES,
    MAX_EXCHANGE_FILE_BYTES,
    STUDENT_ID,
    Assignment,
    GraderError,
    notebook_index,
    resolve_path,
)


@dataclass(frozen=True)
class Found:
    """One notebook file found in the input, and where it belongs."""

    student: str
    assignment: str
    notebook: str
    origin: str           # the path inside the folder or zip, for messages
    modified: datetime    # newest wins when a student handed in the same notebook twice
    attempt: int = 0      # the LMS's resubmission suffix (``-2``): breaks a tie of equal times

    @property
    def order(self) -> tuple[datetime, int, str]:
        """Later means newer: the modification time, then the resubmission number, then the name."""
        return self.modified, self.attempt, self.origin


@dataclass
class Collected:
    submissions: set[tuple[str, str]] = field(default_factory=set)  # (student, assignment)
    problems: list[str] = field(default_factory=list)


def _classify(parts: tuple[str, ...], index: dict[str, Assignment]) -> tuple[str, str, int] | str:
    """(student, notebook, resubmission number) for a path inside the input, or the reason it is not a submission."""
    name = parts[-1]
    notebook = name[: -len(".ipynb")]
    if len(parts) >= 3 and parts[-2] in {a.name for a in index.values()} and notebook in index:
        if index[notebook].name != parts[-2]:
            return f"{notebook}.ipynb belongs to {index[notebook].name}, not {parts[-2]}"
        return parts[-3], notebook, 0
    names = "|".join(re.escape(nb) for nb in sorted(index, key=len, reverse=True))
    flat = re.fullmatch(rf"(?P<student>.+?)_(?P<notebook>{names})(?:-(?P<attempt>\d+))?\.ipynb", name)
    if flat:
        return flat["student"], flat["notebook"], int(flat["attempt"] or 0)
    known = ", ".join(f"{nb}.ipynb" for nb in sorted(index))
    return (f"not a submission of this course: expected <student>/<assignment>/<notebook>.ipynb or "
            f"<student>_<notebook>.ipynb with a notebook among {known}")


MAX_FILES = 100_000                 # files in one folder or zip of submissions
MAX_NOTEBOOK_BYTES = 32 * 1024**2   # one submitted notebook (this course's are ~0.1 MB; with plots a few MB)
MAX_TOTAL_BYTES = 8 * 1024**3       # everything copied from one folder or zip


def _entries(source: Path) -> list[tuple[tuple[str, ...], datetime, object]]:
    """(path parts, modification time, handle) for each regular file in a folder (symbolic links are not followed)
    or zip."""
    if source.is_dir():
        found = [
            (p.relative_to(source).parts, datetime.fromtimestamp(p.lstat().st_mtime), p)
            for p in sorted(source.rglob("*")) if p.is_file() and not p.is_symlink()
        ]
    elif zipfile.is_zipfile(source):
        try:
            with zipfile.ZipFile(source) as archive:
                found = [
                    (PurePosixPath(info.filename).parts, datetime(*info.date_time), info)
                    for info in archive.infolist() if not info.is_dir()
                ]
        except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, OSError) as err:
            raise GraderError(f"{source} cannot be read as a zip file ({type(err).__name__}: {err}). If the LMS "
                              "export is damaged or names a file in an unknown encoding, download it again, or unzip "
                              "it and give the folder.") from None
    elif source.exists():
        raise GraderError(f"{source} is neither a folder nor a zip file of submissions.")
    else:
        raise GraderError(f"{source} does not exist: give a folder or a zip file of submissions.")
    if len(found) > MAX_FILES:
        raise GraderError(f"{source} holds {len(found):,} files, more than the {MAX_FILES:,} one class can hand in: "
                          "is it the right folder or zip?")
    return found


def _copy_bounded(read: BinaryIO, dest: Path, limit: int) -> int | None:
    """Copy at most ``limit`` bytes from ``read`` to ``dest``; None (and no ``dest``) if there were more."""
    copied = 0
    with dest.open("wb") as out:
        while chunk := read.read(1024 * 1024):
            copied += len(chunk)
            if copied > limit:
                break
            out.write(chunk)
    if copied > limit:
        dest.unlink()
        return None
    return copied


def _copy_all(source: Path, copies: list[tuple[object, Path]], problems: list[str]) -> set[int]:
    """Copy each (handle, destination), every file and the whole bounded in size; a file over its limit is left out
    and reported. Returns the ids of the handles left out."""
    left_out: set[int] = set()
    total = 0
    with contextlib.ExitStack() as stack:
        archive = None if source.is_dir() else stack.enter_context(zipfile.ZipFile(source))
        for handle, dest in copies:
            if isinstance(handle, Path) and handle.resolve() == dest.resolve():
                continue  # already in place
            limit = MAX_EXCHANGE_FILE_BYTES if dest.name in EXCHANGE_FILES else MAX_NOTEBOOK_BYTES
            origin = str(handle) if isinstance(handle, Path) else handle.filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with (handle.open("rb") if isinstance(handle, Path) else archive.open(handle)) as read:
                    copied = _copy_bounded(read, dest, limit)
            except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as err:  # a damaged member: the others go on
                dest.unlink(missing_ok=True)
                problems.append(f"{origin}: cannot be read ({type(err).__name__}: {err}); not graded: ask the "
                                "student for a new copy")
                left_out.add(id(handle))
                continue
            if copied is None and dest.name in EXCHANGE_FILES:
                problems.append(f"{origin}: larger than {limit:,} bytes, so not nbgrader's {dest.name}; left out")
                left_out.add(id(handle))
                continue
            if copied is None:
                problems.append(f"{origin}: larger than {max(1, limit // 1024**2)} MB, not graded (a notebook this "
                                "large is damaged or full of output: ask the student for a copy with outputs cleared)")
                left_out.add(id(handle))
                continue
            total += copied
            if total > MAX_TOTAL_BYTES:
                raise GraderError(f"{source} holds more than {MAX_TOTAL_BYTES / 1024**3:g} GB of submissions (stopped "
                                  f"at {origin}): is it the right folder or zip?")
    return left_out


def collect(source: Path, root: Path) -> Collected:
    """Copy every submission found in ``source`` (folder or zip) into ``root/submitted``."""
    source, root = resolve_path(source), resolve_path(root)
    index = notebook_index()
    result = Collected()
    chosen: dict[tuple[str, str], tuple[Found, object]] = {}
    # (student, assignment, file name) -> nbgrader's timestamp.txt or submission_secret.txt of that submission
    side_files: dict[tuple[str, str, str], object] = {}
    assignment_names = {a.name for a in index.values()}
    for parts, modified, handle in _entries(source):
        if any(p in {"__MACOSX", ".ipynb_checkpoints"} or p.startswith("._") for p in parts):
            continue
        if parts[-1] in EXCHANGE_FILES and len(parts) >= 3 and parts[-2] in assignment_names:
            side_files[(parts[-3], parts[-2], parts[-1])] = handle
            continue
        if not parts[-1].endswith(".ipynb"):
            result.problems.append(f"{'/'.join(parts)}: ignored (not a notebook)")
            continue
        where = _classify(parts, index)
        if isinstance(where, str):
            result.problems.append(f"{'/'.join(parts)}: {where}")
            continue
        student, notebook, attempt = where
        if not STUDENT_ID.match(student):
            result.problems.append(f"{'/'.join(parts)}: {student!r} is not a usable student id "
                                   "(letters, digits and . _ @ - only, starting with a letter, a digit or _)")
            continue
        found = Found(student, index[notebook].name, notebook, "/".join(parts), modified, attempt)
        key = (student, notebook)
        if key in chosen:
            kept, dropped = sorted([chosen[key], (found, handle)], key=lambda fh: fh[0].order, reverse=True)
            if kept[0].modified > dropped[0].modified:
                why = "newer"
            elif kept[0].attempt > dropped[0].attempt:
                why = "same time, the later resubmission"
            else:
                why = "same time and resubmission number: the last by name"
            result.problems.append(f"{student} handed in {notebook} twice: graded {kept[0].origin} "
                                   f"({why}), ignored {dropped[0].origin}")
            chosen[key] = kept
        else:
            chosen[key] = (found, handle)

    submitted = root / "submitted"
    copies = [(handle, submitted / f.student / f.assignment / f"{f.notebook}.ipynb") for f, handle in chosen.values()]
    handed_in = {(f.student, f.assignment) for f, _ in chosen.values()}
    copies += [(handle, submitted / student / assignment / name)
               for (student, assignment, name), handle in side_files.items() if (student, assignment) in handed_in]
    left_out = _copy_all(source, copies, result.problems)
    result.submissions = {(f.student, f.assignment) for f, handle in chosen.values() if id(handle) not in left_out}
    if not result.submissions:
        raise GraderError(f"no submissions found in {source}.\n" + "\n".join(result.problems[:20]))
    return result
