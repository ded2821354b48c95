"""Warm kernels: a fork server that has already imported numpy, torch and matplotlib.

Every notebook nbgrader grades starts a fresh kernel, and every fresh kernel spends ~2 s importing torch before a
single test runs. Here one long-lived *zygote* process pays that once: it imports the heavy modules, then, for each
kernel jupyter_client asks for, forks a child that becomes a brand-new IPython kernel. Each student still gets a
fresh process of its own (a fork is a copy, nothing is shared afterwards and no kernel is ever reused); it simply
starts with the imports done.

It plugs into jupyter_client as a *kernel provisioner* (entry point ``grader-warm``), named in the metadata of a
kernelspec that :func:`install_kernelspec` writes; nbgrader then uses it through
``ExecutePreprocessor.kernel_name``. The provisioner is jupyter_client's own ``LocalProvisioner`` with one
difference: ``launch_kernel`` asks the zygote for a process instead of starting one, and the process it tracks is
a :class:`ForkedKernel`, which answers ``poll``/``wait``/``send_signal``/``kill`` for a process that is not its child.

    python -m grader.warm SOCKET     run a zygote on a Unix socket (what :class:`Zygote` starts)
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

KERNEL_NAME = "grader-warm"
PRELOAD = ("numpy", "torch", "torch.nn.functional", "matplotlib", "matplotlib.pyplot", "IPython", "ipykernel.kernelapp",
           "ipykernel.ipkernel", "matplotlib_inline.backend_inline")


# ------------------------------------------------------------------------------------------------ the zygote


def _read_message(conn: socket.socket) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data or b"{}")


def _become_kernel(request: dict[str, Any]) -> None:
    """In the forked child: turn into an IPython kernel with the request's arguments, cwd and environment."""
    os.setsid()  # a process group of its own: jupyter_client signals the group
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["ipykernel_launcher", *request["argv"]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


def serve(socket_path: str) -> None:
    """Import the heavy modules once, then fork one kernel per request, forever."""
    import importlib

    # ipykernel selects matplotlib's inline backend through this variable; set it before matplotlib loads.
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for module in PRELOAD:
        importlib.import_module(module)
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(16)
    print("ready", flush=True)
    while True:
        try:
            conn, _ = server.accept()
        except InterruptedError:
            continue
        with conn:
            request = _read_message(conn)
            if request.get("op") == "ping":
                conn.sendall(b'{"ok": true}\n')
                continue
            pid = os.fork()
            if pid == 0:  # the child
                server.close()
                conn.close()
                try:
                    _become_kernel(request)
                finally:
                    os._exit(0)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _die_with_parent() -> None:
    """In the zygote before exec: ask Linux to SIGKILL it when the process that started it ends.

    Grading workers end without running atexit handlers (multiprocessing leaves through os._exit), so this is what
    keeps a zygote from outliving its worker. Its kernels follow it: ipykernel exits when its parent is gone.
    """
    import ctypes

    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Zygote:
    """A zygote process on a Unix socket, started and stopped by the grading worker that owns it."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.warm", str(socket_path)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        ready = self.process.stdout.readline() if self.process.stdout else b""
        if ready.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"the warm-kernel server did not start (exit code {self.process.poll()})")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


def spawn(socket_path: str, argv: list[str], cwd: str, env: dict[str, str]) -> int:
    """Ask the zygote at ``socket_path`` for a kernel; return its pid."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(socket_path)
        conn.sendall(json.dumps({"op": "spawn", "argv": argv, "cwd": cwd, "env": env}).encode() + b"\n")
        return int(_read_message(conn)["pid"])


# ------------------------------------------------------------------------------------------------ the provisioner


class ForkedKernel:
    """The subset of ``subprocess.Popen`` jupyter_client uses, for a kernel forked by the zygote (not our child).

    Exit is detected through a pidfd (readable once the process has terminated); the exit code itself belongs to
    the zygote that reaps it, so a finished kernel reports -1.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except (OSError, AttributeError):
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if self._pidfd is not None:
            finished = bool(select.select([self._pidfd], [], [], 0)[0])
        else:
            try:
                os.kill(self.pid, 0)
                finished = False
            except ProcessLookupError:
                finished = True
        if finished:
            self.returncode = -1
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class WarmKernelProvisioner(LocalProvisioner):
    """``LocalProvisioner`` whose kernels are forked by a zygote with numpy, torch and matplotlib imported."""

    socket = Unicode("", config=True, help="Unix socket of the zygote (grader.warm.Zygote)")

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        # cmd is the kernelspec's argv with the connection file filled in: python -m ipykernel_launcher -f FILE ...
        argv = cmd[cmd.index("ipykernel_launcher") + 1:]
        env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        cwd = str(kwargs.get("cwd") or Path.cwd())
        pid = spawn(self.socket, argv, cwd, env)
        self.process = ForkedKernel(pid)
        self.pid = pid
        self.pgid = pid  # the child called setsid()
        self.cwd = cwd
        return self.connection_info


def install_kernelspec(jupyter_dir: Path, socket_path: Path) -> Path:
    """Write the ``grader-warm`` kernelspec under ``jupyter_dir/kernels``; put ``jupyter_dir`` on JUPYTER_PATH."""
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (warm: numpy, torch, matplotlib preloaded)",
        "language": "python",
        "metadata": {"kernel_provisioner": {"provisioner_name": KERNEL_NAME,
                                            "config": {"socket": str(socket_path)}}},
    }, indent=1))
    paths = [str(jupyter_dir), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return spec_dir


if __name__ == "__main__":
    serve(sys.argv[1])
