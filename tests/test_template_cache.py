"""The template course (nbgrader's generate_assignment of every graded assignment, ~15 s) is generated once per
grading fingerprint on a machine and copied into every workspace after that; a new SQLite gradebook anywhere is a copy
of it. A cache that cannot be written, or holds half a template, costs only the time to generate one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from grader.grading import engine
from grader.grading.fingerprint import fingerprint, manifest


def rows(database: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(database) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(map(repr, db.execute(f"SELECT * FROM {table}"))) for table in sorted(tables)}


def never_generate(*args: object, **kwargs: object) -> None:
    raise AssertionError("generated a template although the machine-wide cache holds one")


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grading_template: Path) -> Path:
    """A machine-wide cache holding the session's template (as after a first workspace), in a folder of its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = fingerprint(manifest())[:16]
    engine._share(grading_template / code, engine.machine_cache() / code)
    return engine.machine_cache() / code


def test_a_second_workspace_copies_the_template_and_generates_nothing(machine: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "generate", never_generate)
    second = tmp_path / "second"
    second.mkdir()
    template, _ = engine.prepare(second, engine.gradebook_url(second, None), ["ada"], fingerprint(manifest()))
    assert template == (machine / "gradebook.db").read_bytes()
    assert rows(second / "gradebook.db")["assignment"] == rows(machine / "gradebook.db")["assignment"]


def test_a_new_sqlite_gradebook_elsewhere_is_a_copy_of_the_template(machine: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "generate", never_generate)
    root = tmp_path / "fall 2026"
    root.mkdir()
    database = tmp_path / "fall.db"
    engine.prepare(root, f"sqlite:///{database}", [], fingerprint(manifest()))
    assert rows(database) == rows(machine / "gradebook.db")
    assert not (root / "gradebook.db").exists()


def fake_generate(generated: list[Path]):
    def generate(root: Path, db_url: str, only: object) -> None:   # the rest of prepare() with a stand-in release
        generated.append(root)
        (root / "release").mkdir()
        (root / "gradebook.db").write_bytes(b"a generated template")
    return generate


def template_generating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    """A new workspace's template, with generate_assignment replaced by a stand-in: (the template, where it ran)."""
    generated: list[Path] = []
    monkeypatch.setattr(engine, "generate", fake_generate(generated))
    root = tmp_path / "w"
    root.mkdir()
    return engine._template(root, fingerprint(manifest())), generated


def test_a_cache_others_could_write_is_never_read(machine: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    machine.chmod(0o777)
    cache, generated = template_generating(tmp_path, monkeypatch)
    assert len(generated) == 1 and (cache / "gradebook.db").read_bytes() == b"a generated template"


def test_a_cache_that_cannot_be_read_is_generated_again(machine: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (machine / "release" / "stray").symlink_to(tmp_path / "nowhere")   # a dangling link: the copy fails
    cache, generated = template_generating(tmp_path, monkeypatch)
    assert len(generated) == 1 and (cache / "gradebook.db").read_bytes() == b"a generated template"
    assert not (cache / "release" / "stray").is_symlink()
    assert (machine / "gradebook.db").read_bytes() == b"a generated template", "the broken cache was not mended"


def test_half_a_workspace_template_is_replaced_whole(machine: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "generate", never_generate)
    root = tmp_path / "w"
    half = root / engine.CACHE_DIR / fingerprint(manifest())[:16]
    (half / "release").mkdir(parents=True)            # as if a copy was interrupted before the gradebook
    cache = engine._template(root, fingerprint(manifest()))
    assert (cache / "gradebook.db").read_bytes() == (machine / "gradebook.db").read_bytes()
    assert sorted(p.name for p in (cache / "release").iterdir()) == sorted(
        p.name for p in (machine / "release").iterdir())


def test_an_existing_gradebook_is_never_replaced_by_the_template(machine: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from nbgrader.api import Gradebook

    root = tmp_path / "class"
    root.mkdir()
    url = engine.gradebook_url(root, None)
    engine.prepare(root, url, ["ada"], fingerprint(manifest()))
    (root / engine.STATE_FILE).unlink()               # as after a change of code: the assignments are recorded again
    recorded: list[str] = []
    monkeypatch.setattr(engine, "generate", lambda where, db_url, only: recorded.append(db_url))
    engine.prepare(root, url, [], fingerprint(manifest()))
    assert recorded == [url], "an existing gradebook must get generate_assignment, not a copy of the template"
    with Gradebook(url) as gb:
        assert [s.id for s in gb.students] == ["ada"]


def test_half_a_cached_template_is_generated_again(machine: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (machine / "gradebook.db").unlink()   # as if someone deleted it by hand
    _, generated = template_generating(tmp_path, monkeypatch)
    assert len(generated) == 1
    assert (machine / "gradebook.db").read_bytes() == b"a generated template", "the cache was not mended"


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    grading_template: Path) -> None:
    blocked = tmp_path / "not a folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    code = fingerprint(manifest())
    engine._share(grading_template / code[:16], engine.machine_cache() / code[:16])  # says nothing, raises nothing
    assert blocked.is_file()
