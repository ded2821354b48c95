"""Kernels for grading: forked by a zygote that has already imported numpy, torch and matplotlib, in a sandbox.

Every notebook nbgrader grades starts a fresh kernel, and every fresh kernel spends ~2 s importing torch before a
single test runs. Here one long-lived *zygote* (:mod:`grader.zygote`, started inside the sandbox of
:mod:`grader.sandbox`) pays that once: it imports the heavy modules, then, for each kernel jupyter_client asks for,
forks a child that becomes a brand-new IPython kernel. Each student still gets a fresh process of its own (a fork is
a copy, nothing is shared afterwards and no kernel is ever reused); it simply starts with the imports done.

It plugs into jupyter_client as a *kernel provisioner* (entry point ``grader-warm``), named in the metadata of a
kernelspec that :func:`install_kernelspec` writes; nbgrader then uses it through
``ExecutePreprocessor.kernel_name``. The provisioner is jupyter_client's own ``LocalProvisioner`` with one
difference: ``launch_kernel`` asks the zygote for a process instead of starting one, and the process it tracks is
a :class:`ForkedKernel`, which answers ``poll``/``wait``/``send_signal``/``kill`` for a process that is not its child
(and, in the sandbox, lives in another pid namespace).
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
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

from grader.sandbox import Isolation, sandbox_uid
from grader.zygote import read_message

KERNEL_NAME = "grader-warm"


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
    """A zygote process (grader/zygote.py) on a Unix socket, started and stopped by the grading worker that owns it.

    socket_path: where this side binds the zygote's socket; its folder must be outside every sandbox (the zygote
    gets the listening socket as a file descriptor, so nothing in a sandbox can reach it by a path). profile:
    ``kernel`` (nbgrader's kernels) or ``recheck`` (the out-of-process re-check); neither sees the grader package.
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
        from grader import sandbox

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
        """Ask for a child (``spawn``: a kernel; ``recheck``: a re-check process that answers on ``connection``, one
        end of a socket pair that travels with the request) and track it."""
        inner, pidns = request_pid(str(self.socket_path), {"op": op, **request}, connection)
        return ForkedKernel(host_pid(pidns, inner))

    def clean(self) -> None:
        """Kill everything the children left running in the sandbox and empty its ``/tmp``. Should anything survive
        (a process the kernel cannot kill), or the zygote not answer, the whole sandbox is ended and started afresh:
        every process in its PID namespace dies with it."""
        try:
            ok = bool(_ask(str(self.socket_path), {"op": "clean"}, timeout=30).get("ok"))
        except (OSError, ValueError):
            ok = False
        if not ok:
            self.stop()
            self.start()


def _ask(socket_path: str, request: dict[str, Any], timeout: float | None = None,
         connection: socket.socket | None = None) -> dict[str, Any]:
    """One request to the zygote, one JSON answer; ``connection`` is sent along as a file descriptor."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        data = json.dumps(request).encode() + b"\n"
        try:
            sent = socket.send_fds(conn, [data], [connection.fileno()]) if connection is not None else 0
            if sent < len(data):  # (sending nothing to a zygote that has already answered and hung up is EPIPE)
                conn.sendall(data[sent:])
        except BrokenPipeError:  # the zygote answered (and hung up) before reading everything: say what it said
            raise RuntimeError(f"the zygote refused a request of {len(data)} bytes: {read_message(conn)}") from None
        return read_message(conn)


def request_pid(socket_path: str, request: dict[str, Any], connection: socket.socket | None = None
                ) -> tuple[int, str]:
    """A new child of the zygote: its pid inside the sandbox and the sandbox's pid namespace."""
    answer = _ask(socket_path, request, connection=connection)
    if "pid" not in answer:
        raise RuntimeError(f"the kernel server refused: {answer}")
    return int(answer["pid"]), str(answer.get("pidns", ""))


def child_status(socket_path: str, inner_pid: int) -> dict[str, Any]:
    """How a child of the zygote ended: {"exit": code} or {"signal": "SIGKILL"} (or {"running": true})."""
    try:
        return _ask(socket_path, {"op": "status", "pid": inner_pid}, timeout=5)
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


class WarmKernelProvisioner(LocalProvisioner):
    """``LocalProvisioner`` whose kernels are forked by a zygote with numpy, torch and matplotlib imported."""

    socket = Unicode("", config=True, help="Unix socket of the zygote (grader.warm.Zygote)")
    limits = Unicode("{}", config=True, help="resource limits for the kernel, JSON (grader.sandbox.Limits)")

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        # cmd is the kernelspec's argv with the connection file filled in: python -m ipykernel_launcher -f FILE ...
        argv = cmd[cmd.index("ipykernel_launcher") + 1:]
        env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        cwd, own = self._folders(kwargs)
        # The connection file lies where jupyter_client put it, outside the sandbox: its contents travel with the
        # request, and the kernel writes its own copy inside.
        connection = Path(argv[argv.index("-f") + 1]).read_text() if "-f" in argv else None
        inner, pidns = request_pid(self.socket, {"op": "spawn", "argv": argv, "cwd": cwd, "own": own, "env": env,
                                                 "connection": connection, "limits": json.loads(self.limits)})
        self.inner_pid = inner
        pid = host_pid(pidns, inner)
        self.process = ForkedKernel(pid)
        self.pid = pid
        self.pgid = pid  # the child called setsid()
        self.cwd = cwd
        await self._sockets_bound()
        return self.connection_info

    async def _sockets_bound(self, seconds: float = 60.0) -> None:
        """Over IPC, wait until the kernel has bound all its sockets (before any student code runs), each a real
        socket. The client then connects once and never reconnects (``QuickReadyClient``): a path the student's code
        later replaces with a link is never followed."""
        import asyncio
        import stat

        km = self.parent
        if getattr(km, "transport", "") != "ipc":
            return
        paths = [f"{km.ip}-{getattr(km, f'{channel}_port')}" for channel in ("shell", "iopub", "stdin", "control",
                                                                           "hb")]
        deadline = time.monotonic() + seconds
        while True:
            found = {}
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    found[path] = os.lstat(path).st_mode
            if any(not stat.S_ISSOCK(mode) for mode in found.values()):
                raise RuntimeError("a kernel socket is not a socket (replaced by a link?)")
            if len(found) == len(paths) or self.process.poll() is not None or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.002)

    inner_pid = -1   # the kernel's pid inside the sandbox, to ask the zygote how it ended

    def _folders(self, kwargs: dict[str, Any]) -> tuple[str, list[str]]:
        """The kernel's working folder and the folders it may write. Over IPC (how grading workers run) both are in
        the folder of the kernel's sockets, which the worker made fresh for this submission (the kernel never works
        in the folder where nbgrader writes the graded notebook); otherwise where nbclient says."""
        ip = getattr(self.parent, "ip", "") if getattr(self.parent, "transport", "") == "ipc" else ""
        if not ip:
            return str(kwargs.get("cwd") or Path.cwd()), []
        sockets = Path(ip).parent
        home = sockets / "home"
        home.mkdir(mode=0o700, exist_ok=True)
        return str(home), [str(sockets)]

    async def cleanup(self, restart: bool = False) -> None:
        """After the kernel: nothing it started survives it (the zygote kills every process left in the sandbox)."""
        with contextlib.suppress(OSError, ValueError):
            _ask(self.socket, {"op": "clean"}, timeout=30)
        await super().cleanup(restart)

    async def kill(self, restart: bool = False) -> None:
        """SIGKILL, then wait (briefly) until it is gone: jupyter_client would otherwise find it alive and sleep
        0.1 s before looking again, once per notebook."""
        await super().kill(restart)
        if isinstance(self.process, ForkedKernel):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1.0)


class QuickReadyClient(AsyncKernelClient):
    """jupyter_client's kernel client, with a readiness handshake that does not wait on silence.

    ``wait_for_ready`` sends ``kernel_info``, takes the reply, then waits up to 0.2 s for *any* IOPub message and
    finally drains IOPub until it has been quiet for 0.2 s: ~0.4 s per notebook. Here the kernel counts as ready
    when the reply has come and IOPub has delivered a message of that same request (the kernel publishes its
    busy/idle status for every request), which proves both channels are connected. Whatever else is still on IOPub
    belongs to no cell: nbclient matches every message to the request that caused it.

    A freshly forked kernel answers in well under 0.1 s, often before the IOPub subscription is connected; that status
    message is then lost (ZeroMQ's "slow joiner"), so ``kernel_info`` is asked again after 0.1 s without one. The
    client's sockets never reconnect: the provisioner returns only once the kernel has bound them (a kernel that
    dies is restarted with a new client), so no path in the kernel's folder is followed after its code has run.
    Together: ready in ~0.09 s instead of ~0.27 s.
    """

    RECONNECT_MS = -1   # never: the provisioner connects only once the kernel's sockets exist

    def start_channels(self, shell: bool = True, iopub: bool = True, stdin: bool = True, hb: bool = True,
                       control: bool = True) -> None:
        """jupyter_client's channels without the heartbeat, which reconnects by path on its own whenever a ping goes
        unanswered (the kernel manager tells whether the kernel is alive: its process is watched)."""
        super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)

    def _create_connected_socket(self, channel: str, identity: bytes | None = None) -> Any:
        import zmq

        self.context.setsockopt(zmq.RECONNECT_IVL, self.RECONNECT_MS)  # the default of the context's new sockets
        return super()._create_connected_socket(channel, identity)

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else 60.0)
        while True:
            request = self.kernel_info()  # again when the IOPub status of the previous one was lost
            reply = await self._answer(self.shell_channel, request, deadline, quiet=1.0, kind="kernel_info_reply")
            if reply is not None and await self._answer(self.iopub_channel, request,
                                                        min(deadline, time.monotonic() + 0.1)):
                self._handle_kernel_info_reply(reply)
                return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    wait_for_ready = _async_wait_for_ready   # (AsyncKernelClient binds the name to the base method)

    @staticmethod
    async def _answer(channel: Any, request: str, deadline: float, quiet: float | None = None,
                      kind: str | None = None) -> dict[str, Any] | None:
        """The first message on ``channel`` caused by ``request`` (and of type ``kind``), before ``deadline``; None
        once the channel has been silent for ``quiet`` seconds (or until the deadline)."""
        from queue import Empty

        while time.monotonic() < deadline:
            left = max(0.0, deadline - time.monotonic())
            try:
                msg = await channel.get_msg(timeout=left if quiet is None else min(quiet, left))
            except Empty:
                return None
            if msg["parent_header"].get("msg_id") == request and kind in (None, msg["msg_type"]):
                return msg
        return None


def install_kernelspec(jupyter_dir: Path, zygote: Zygote) -> Path:
    """Write the ``grader-warm`` kernelspec under ``jupyter_dir/kernels``; put ``jupyter_dir`` on JUPYTER_PATH."""
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (warm: numpy, torch, matplotlib preloaded)",
        "language": "python",
        "metadata": {"kernel_provisioner": {"provisioner_name": KERNEL_NAME,
                                            "config": {"socket": str(zygote.socket_path),
                                                       "limits": json.dumps(zygote.isolation.limits.as_dict())}}},
    }, indent=1))
    paths = [str(jupyter_dir), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return spec_dir

