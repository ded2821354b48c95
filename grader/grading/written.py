"""What the grader wrote into ``autograded/``, to notice when something else wrote over it.

formgrader's *Autograde* button and a plain ``nbgrader autograde`` grade a submission again without the sandbox and
the re-check, rewriting its autograded notebooks and its rows in the gradebook. The incremental re-grade must not
then keep those grades as the grader's own: for every submission it stores, the grader records each autograded
notebook's size, modification time and hash (:func:`record`), and a later run grades a submission again when its
autograded notebooks are no longer what it wrote (:func:`still_ours`) — the grades in the gradebook came from
whatever wrote them. Manual grades (formgrader's *Manual Grading*) live only in the gradebook and are kept.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

# notebook name -> [size in bytes, modification time in ns, sha256 of the bytes]
Record = dict[str, list]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record(folder: Path, notebooks: Mapping[str, bytes]) -> Record:
    """What the grader has just written into ``autograded/<student>/<assignment>/``: ``notebooks`` (name -> the
    bytes written, hashed here rather than read back), with the size and time the files have on disk."""
    found = {}
    for name, data in sorted(notebooks.items()):
        info = os.lstat(folder / f"{name}.ipynb")
        found[f"{name}.ipynb"] = [info.st_size, info.st_mtime_ns, hashlib.sha256(data).hexdigest()]
    return found


def still_ours(folder: Path, recorded: object) -> bool:
    """Whether ``folder`` holds exactly the notebooks recorded, byte for byte: a file whose size and time are as
    recorded is taken as unchanged (one ``stat``), any other is hashed. No record (a state file written before the
    grader kept one) is not a proof: False."""
    if not isinstance(recorded, dict) or not recorded:
        return False
    present = sorted(path.name for path in folder.glob("*.ipynb"))
    if present != sorted(recorded):
        return False
    for name, entry in recorded.items():
        if not (isinstance(entry, list) and len(entry) == 3):
            return False
        path = folder / name
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) or info.st_size != entry[0]:
            return False
        if info.st_mtime_ns != entry[1] and _sha256(path) != entry[2]:
            return False
    return True
