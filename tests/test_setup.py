"""The setup files agree: one lock (requirements.txt) that conda/Binder (environment.yml) and pip share, pinned
versions the course promises, and a Quick start of exactly two commands that CI runs."""

from __future__ import annotations

import re

import yaml

from grader.project import REPO

PROMISED = {"torch": "2.13.0", "nbgrader": "0.9.6"}


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.txt must pin every package exactly, got {line!r}"
            pins[name.lower()] = version
    return pins


def test_requirements_pin_the_promised_versions() -> None:
    pins = _lock()
    for name, version in PROMISED.items():
        assert pins.get(name) == version, f"{name} must be pinned to {version}, got {pins.get(name)}"
    assert pins["jupyterlab"].startswith("4."), "the course targets JupyterLab 4"
    for needed in ("numpy", "matplotlib", "pytest", "hypothesis", "ruff", "distributed", "tiktoken", "tokenizers",
                   "gensim"):
        assert needed in pins, f"{needed} is missing from the lock"


def test_conda_environment_uses_the_same_lock() -> None:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-r requirements.txt" in pip and "-e ." in pip, "conda/Binder must install the same lock and the project"
    assert any("download.pytorch.org/whl/cpu" in line for line in pip), "conda/Binder should get the CPU torch build"


def test_quick_start_is_two_commands_and_ci_runs_both_in_order() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash)?\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the Quick start holds exactly one code block"
    commands = [line for line in blocks[0].splitlines() if line.strip()]
    assert commands == ["make demo", "make test"], commands
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert [line for line in ci if line in commands] == commands, (
        f".ci/run must run the README's Quick start commands as written, in order: {commands}; it runs {ci}")
