"""The grading worker's side of the zygote (:mod:`grader.sandboxed.zygote`): start it in its sandbox, ask it for
processes, learn how they ended, and clean up after them.

One long-lived zygote per sandbox profile imports numpy, torch and matplotlib once; every kernel (and every re-check
process) is a fresh fork of it. The kernels reach nbgrader through :mod:`grader.compat.kernels`, the jupyter_client
provisioner that asks this client for a process instead of starting one.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from grader.grading.sandbox import Isolation, sandbox_uid
from grader.sandboxed import wire

ANSWER_BYTES = 1024 * 1024   # the zygote's answers are a few small fields

# ------------------------------------------------------------------------------------------------ the zygote


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
    """A zygote process (grader/sandboxed/zygote.py) on a Unix socket, started and stopped by the grading worker that
    owns it.

    socket_path: where this side binds the zygote's socket; its folder must be outside every sandbox (the zygote
    gets the listening socket as a file descriptor, so nothing in a sandbox can reach it by a path). profile:
    ``kernel`` (nbgrader's kernels) or ``subject`` (the re-check's processes); neither sees the grader package.
    writable: the folders its children may write. preload: import numpy/torch/matplotlib once, before forking (warm
    kernels).
    """

    def __init__(self, socket_path: Path, isolation: Isolation, profile: str = "kernel",
                 writable: list[Path] | None = None, preload: bool = True, wait: bool = True) -> None:
        self.socket_path = socket_path
        self.isolation = isolation
        self.profile = profile
        self.writable = list(writable or [])
        if any(socket_path.parent == w or w in socket_path.parents for w in self.writable):
            raise ValueError(f"the zygote's socket {socket_path} must not be in a folder its children can write")
        self.preload = preload
        self.uid = sandbox_uid() if isolation.sandbox else None
        self.process: subprocess.Popen[bytes] | None = None
        self.pidns = ""
        self.start(wait)

    def start(self, wait: bool = True) -> None:
        """Start the zygote process; with ``wait``, return once it is ready (else :meth:`ensure` waits for it, so
        a worker can start its zygotes side by side and do other work while they import torch)."""
        from grader.grading import sandbox

        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        listener.listen(16)
        options = [str(listener.fileno()), *(["--preload"] if self.preload else []),
                   *(["--uid", str(self.uid)] if self.uid is not None else [])]
        seccomp = sandbox.seccomp_fd() if self.isolation.sandbox else None
        if self.isolation.sandbox:
            argv = sandbox.command(self.profile, self.writable,
                                   [sys.executable, f"{sandbox.SANDBOX_CODE}/zygote.py", *options], seccomp)
        else:
            argv = [sys.executable, str(sandbox.ZYGOTE_FILE), *options]
        try:
            self.process = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                            stderr=None if os.environ.get("GRADER_DEBUG") else subprocess.PIPE,
                                            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                            pass_fds=[listener.fileno(), *([seccomp] if seccomp is not None else [])])
        finally:
            listener.close()   # the zygote holds it now; this side connects by path
            if seccomp is not None:
                os.close(seccomp)
        self.pidns = ""
        if wait:
            self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        ready = self.process.stdout.readline().decode() if self.process.stdout else ""
        if not ready.startswith("ready"):
            error = self.process.stderr.read().decode(errors="replace")[-2000:] if self.process.stderr else ""
            self.stop()
            raise RuntimeError(f"the kernel server did not start (exit code {self.process.poll()}): {error.strip()}")
        self.pidns = ready.split(maxsplit=1)[1].strip()
        # Drain stderr in the background: the zygote writes nothing there unless something is badly wrong.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        if self.process and self.process.stderr:
            for _ in self.process.stderr:
                pass

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure(self) -> None:
        """Wait until a zygote started without waiting is ready; restart it if a child managed to end it (it never
        should): the next student is not affected."""
        if self.alive() and not self.pidns:
            self._wait_ready()
        if not self.alive():
            self.stop()
            self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def spawn(self, op: str, connection: socket.socket | None = None, **request: Any) -> ForkedKernel:
        """Ask for a child (``spawn``: a kernel; ``subject``: a re-check process that answers on ``connection``, one
        end of a socket pair that travels with the request) and track it."""
        inner, pidns = request_pid(str(self.socket_path), {"op": op, **request}, connection)
        return ForkedKernel(host_pid(pidns, inner))

    def clean(self) -> None:
        """Kill everything the children left running in the sandbox and empty its ``/tmp``. Should anything survive
        (a process the kernel cannot kill), or the zygote not answer, the whole sandbox is ended and started afresh:
        every process in its PID namespace dies with it."""
        try:
            ok = bool(ask(str(self.socket_path), {"op": "clean"}, timeout=30).get("ok"))
        except (OSError, ValueError):
            ok = False
        if not ok:
            self.stop()
            self.start()


def ask(socket_path: str, request: dict[str, Any], timeout: float | None = None,
         connection: socket.socket | None = None) -> dict[str, Any]:
    """One request to the zygote, one JSON answer; ``connection`` is sent along as a file descriptor."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        try:
            wire.send(conn, request, [connection.fileno()] if connection is not None else ())
        except BrokenPipeError:  # the zygote answered (and hung up) before reading everything: say what it said
            raise RuntimeError(f"the zygote refused a request: {wire.receive(conn, limit=ANSWER_BYTES)}") from None
        answer = wire.receive(conn, limit=ANSWER_BYTES)
        if answer is None:
            raise ConnectionError("the zygote hung up without answering")
        return answer


SPAWN_SECONDS = 60.0   # a fork answers in milliseconds; a zygote silent this long is stopped or stuck


def request_pid(socket_path: str, request: dict[str, Any], connection: socket.socket | None = None,
                timeout: float = SPAWN_SECONDS) -> tuple[int, str]:
    """A new child of the zygote: its pid inside the sandbox and the sandbox's pid namespace. A zygote that does not
    answer within ``timeout`` seconds is an error (the worker's next clean() restarts it), not a wait forever."""
    try:
        answer = ask(socket_path, request, timeout=timeout, connection=connection)
    except TimeoutError:
        raise RuntimeError(f"the zygote did not answer a {request.get('op')} request within {timeout:g} s") from None
    if "pid" not in answer:
        raise RuntimeError(f"the kernel server refused: {answer}")
    return int(answer["pid"]), str(answer.get("pidns", ""))


def child_status(socket_path: str, inner_pid: int) -> dict[str, Any]:
    """How a child of the zygote ended: {"exit": code} or {"signal": "SIGKILL"} (or {"running": true})."""
    try:
        return ask(socket_path, {"op": "status", "pid": inner_pid}, timeout=5)
    except OSError:
        return {}


def host_pid(pidns: str, inner: int) -> int:
    """The pid, as this process sees it, of the process numbered ``inner`` in the pid namespace ``pidns``."""
    if not pidns or pidns == os.readlink("/proc/self/ns/pid"):
        return inner
    for _ in range(100):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") != pidns:
                    continue
                with open(f"/proc/{entry}/status") as status:
                    nspid = next(line for line in status if line.startswith("NSpid:"))
                if int(nspid.split()[-1]) == inner:
                    return int(entry)
            except (OSError, ValueError, StopIteration):
                continue
        time.sleep(0.01)
    raise RuntimeError(f"process {inner} of the sandbox not found")


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
            if self._pidfd is not None:  # readable the moment the process ends
                select.select([self._pidfd], [], [], 0.02)
            else:
                time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)
