"""Kernels for nbgrader, forked by a zygote that has already imported numpy, torch and matplotlib, in a sandbox.

Every notebook nbgrader grades starts a fresh kernel, and every fresh kernel spends ~2 s importing torch before a
single test runs. The zygote (:mod:`grader.sandboxed.zygote`, driven by :mod:`grader.grading.zygote_client`) pays that
once; each student still gets a fresh process of its own (a fork is a copy, nothing is shared afterwards and no kernel
is ever reused); it simply starts with the imports done.

This module plugs that into jupyter_client as a *kernel provisioner* (entry point ``grader-warm``), named in the
metadata of a kernelspec that :func:`install_kernelspec` writes; nbgrader then uses it through
``ExecutePreprocessor.kernel_name``. The provisioner is jupyter_client's own ``LocalProvisioner`` with one
difference: ``launch_kernel`` asks the zygote for a process instead of starting one, and the process it tracks is
a :class:`ForkedKernel`, which answers ``poll``/``wait``/``send_signal``/``kill`` for a process that is not its child
(and, in the sandbox, lives in another pid namespace). :class:`QuickReadyClient` is the kernel client that waits for
the kernel without a heartbeat channel. Both override jupyter_client internals: they live here, in ``compat/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

from grader.compat import require_versions
from grader.grading.zygote_client import ForkedKernel, Zygote, ask, host_pid, request_pid

require_versions(__name__, "WarmKernelProvisioner overrides jupyter_client's LocalProvisioner.launch_kernel, "
                 "cleanup and kill and relies on its IPC socket names; QuickReadyClient replaces "
                 "AsyncKernelClient._async_wait_for_ready and _create_connected_socket and relies on ipykernel "
                 "publishing a status for every request: read those against the new versions and run "
                 "tests/test_grading.py, tests/test_hostile.py, tests/test_parallel.py and tests/test_interruptions.py",
                 ("jupyter_client", "ipykernel"))

KERNEL_NAME = "grader-warm"



class WarmKernelProvisioner(LocalProvisioner):
    """``LocalProvisioner`` whose kernels are forked by a zygote with numpy, torch and matplotlib imported."""

    socket = Unicode("", config=True, help="Unix socket of the zygote (grader.grading.zygote_client.Zygote)")
    limits = Unicode("{}", config=True, help="resource limits for the kernel, JSON (grader.grading.sandbox.Limits)")

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
            ask(self.socket, {"op": "clean"}, timeout=30)
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

    def _context_default(self) -> Any:
        """This process's one ZeroMQ context for kernel clients (made anew in a forked child), shared by every client
        and never terminated. jupyter_client gives each client a context of its own and terminates it in
        ``stop_channels``; with ``RECONNECT_IVL`` -1 that termination blocks after the kernel is gone although every
        socket is closed with linger 0: 0.6–0.9 s per notebook, against under 1 ms on the shared context, with no
        descriptor left behind (benchmarks/bench_kernel_client.py). Each client still closes its own sockets."""
        return _clients_context()

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


_CONTEXT: dict[int, Any] = {}   # process id -> the kernel clients' ZeroMQ context in that process


def _clients_context() -> Any:
    """The kernel clients' context of this process. A context does not survive a fork, so a child makes its own; not
    pyzmq's global instance, whose other users would inherit the clients' ``RECONNECT_IVL``."""
    import zmq.asyncio

    pid = os.getpid()
    if pid not in _CONTEXT:
        _CONTEXT.clear()
        _CONTEXT[pid] = zmq.asyncio.Context()
    return _CONTEXT[pid]


def worker_environment(runtime_dir: Path, jupyter_dir: Path) -> None:
    """Where this worker process's kernels keep their connection files, and where jupyter_client finds the
    ``grader-warm`` kernelspec. jupyter_client reads both only from the environment (``jupyter_runtime_dir()``;
    ``KernelSpecManager.kernel_dirs`` is not a configurable trait), so a worker sets them here, once, when it boots,
    and nowhere else (tests/test_layout.py holds that)."""
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)
    paths = [str(jupyter_dir), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))


def install_kernelspec(jupyter_dir: Path, zygote: Zygote) -> Path:
    """Write the ``grader-warm`` kernelspec under ``jupyter_dir/kernels`` (found through :func:`worker_environment`)."""
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
    return spec_dir

