"""The trusted side never follows what a sandboxed process could have left: unit checks of the pieces that touch
the sandbox's folders (the hostile corpus, tests/test_hostile.py, attacks them end to end)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.grading import sandbox
from grader.grading.executor import remove_contents
from grader.grading.sandbox import Isolation, Limits
from grader.grading.zygote_client import Zygote


def test_emptying_a_sandbox_folder_removes_links_never_what_they_point_to(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.txt").write_text("the grader's")
    (outside / "deep" / "keep.txt").write_text("the grader's too")
    box = tmp_path / "box"
    (box / "nested" / "more").mkdir(parents=True)
    (box / "plain.txt").write_text("student")
    os.symlink(outside, box / "to-a-folder")
    os.symlink(outside / "secret.txt", box / "to-a-file")
    os.symlink(outside, box / "nested" / "more" / "inner-link")
    os.symlink(box / "nowhere", box / "dangling")
    os.mkfifo(box / "nested" / "a-fifo")
    remove_contents(box)
    assert box.is_dir() and not list(box.iterdir())
    assert (outside / "secret.txt").read_text() == "the grader's"
    assert (outside / "deep" / "keep.txt").read_text() == "the grader's too"


def test_a_folder_replaced_by_a_link_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the grader's")
    os.symlink(outside, tmp_path / "box")
    remove_contents(tmp_path / "box")
    assert (outside / "secret.txt").exists()


def test_a_zygote_socket_where_its_children_can_write_is_refused(tmp_path: Path) -> None:
    writable = tmp_path / "kernels"
    writable.mkdir()
    with pytest.raises(ValueError, match="must not be in a folder its children can write"):
        Zygote(writable / "zygote.sock", Isolation(limits=Limits()), "kernel", writable=[writable], wait=False)


@pytest.mark.parametrize("profile", ["kernel", "subject"])
def test_the_sandbox_mounts_no_grader_code_and_writes_only_where_told(profile: str, tmp_path: Path) -> None:
    writable = tmp_path / "kernels"
    args = sandbox.command(profile, [writable], ["true"])
    binds = [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a in ("--bind", "--ro-bind")]
    writes = [args[i + 1] for i, a in enumerate(args) if a == "--bind"]
    assert writes == [str(writable)], writes
    grader_mounts = {Path(source): target for source, target in binds
                     if Path(source) == sandbox.GRADER_DIR or sandbox.GRADER_DIR in Path(source).parents}
    assert grader_mounts == {sandbox.SANDBOXED_DIR: sandbox.SANDBOX_CODE}, (
        "grader/sandboxed/ is the only folder of the grader inside, and not at its own path")
    inside = {p.name for p in sandbox.SANDBOXED_DIR.iterdir() if p.name != "__pycache__"}
    assert inside == {"__init__.py", "wire.py", "zygote.py", "subject.py"}, (
        f"grader/sandboxed/ holds what the sandbox sees: {sorted(inside)}; hidden tests and references stay out")
