"""What the tests that drive a real browser share: Debian's Chromium, a ``jupyter lab`` on loopback, and JupyterLab's
own steps as a student takes them (open a notebook, Run All, save, Validate)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from grader.project import REPO

TOKEN = "browser-test-token"
SERVER_START = 120             # seconds: JupyterLab and its extensions on a busy 2-core machine take ~10 s

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        pytest.skip("Chromium is not installed (`make test` installs the Debian package)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root: Path, state: Path, jupyter_path: Path | None = None) -> Iterator[str]:
    """``jupyter lab`` started in ``root`` as the README says, on 127.0.0.1, a free port and a token, no browser; its
    base URL once ``/api/status`` answers (bounded: a server that exits or does not answer fails the test with its
    log). Jupyter's per-user folders are ``state``'s, so nothing of the machine's user leaks in or is written; the
    environment's own (sys-prefix) configuration, which enables nbgrader's and jupyter-server-mathjax's extensions,
    is read as an instructor's would be. ``jupyter_path``: a folder searched first for kernels and data. Stopped, and
    waited for, at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "JUPYTER_CONFIG_DIR": str(state / "config"), "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "JUPYTER_DATA_DIR": str(state / "data"), "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces")}
    if jupyter_path is not None:   # searched before every other folder: kernels here win over the environment's
        env["JUPYTER_PATH"] = os.pathsep.join([str(jupyter_path), *filter(None, [env.get("JUPYTER_PATH")])])
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / "jupyter-lab.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}"]
    if os.geteuid() == 0:   # CI and this machine run as root; Jupyter refuses that without the flag
        command.append("--allow-root")
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited ({server.returncode}) before answering:\n"
                            f"{log_path.read_text()[-5000:]}")
            try:
                with urlopen(f"{url}/api/status?token={TOKEN}", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {SERVER_START} s:\n{log_path.read_text()[-5000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        print(f"jupyter lab's log: {log_path}")


# The notebook's state as JupyterLab shows it: the execution indicator and whether any cell waits ("[*]").
_STATE = """() => ({status: document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status,
                   waiting: [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                            .some(p => p.innerText.includes('*'))})"""


def open_notebook(page, url: str, timeout_s: float = SERVER_START) -> None:  # type: ignore[no-untyped-def]
    """Open the notebook at ``url`` in JupyterLab and wait until its kernel has started and connected (the status bar
    says "<kernel> | Idle")."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_s * 1000)
    page.wait_for_function("() => /\\| Idle/.test(document.querySelector('#jp-main-statusbar')?.innerText)",
                           timeout=timeout_s * 1000)


def run_all(page, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """Run > Run All Cells, and wait until it has started (a cell waits or the kernel is busy) and then ended (the
    kernel idle and no cell waiting, twice a second apart). JupyterLab draws only the cells in view: what ran is for
    the saved notebook to say."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = f"() => {{ const s = ({_STATE})(); return s.status === 'busy' || s.waiting; }}"
    for attempt in range(3):   # a click JupyterLab takes before its menus are wired does nothing: click again
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        try:
            page.wait_for_function(started, timeout=20_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    deadline, calm = time.monotonic() + timeout_s, 0
    while calm < 2:
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: Run All did not end within {timeout_s:g} s")
        time.sleep(1)
        now = page.evaluate(_STATE)
        calm = calm + 1 if now["status"] == "idle" and not now["waiting"] else 0


def save(page) -> None:  # type: ignore[no-untyped-def]
    """File > Save Notebook, and wait until the tab no longer shows unsaved changes."""
    page.click(".lm-MenuBar-itemLabel:text-is('File')")
    page.click(".lm-Menu-itemLabel:text-is('Save Notebook')")
    page.wait_for_selector(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty", state="detached")


def validate(page, timeout_s: float) -> str:  # type: ignore[no-untyped-def]
    """nbgrader's Validate button in the notebook's toolbar; the text of the dialog it opens (then closed)."""
    page.click(".jp-NotebookPanel-toolbar >> text=Validate")
    dialog = page.locator(".jp-Dialog:has-text('Validation Results')")
    dialog.wait_for(timeout=timeout_s * 1000)
    said = dialog.inner_text()
    page.click(".jp-Dialog button:has-text('Ok')")
    return said
