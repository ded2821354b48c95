"""The zygote: one long-lived process per grading worker that forks every process student code runs in.

This file is run by path (``python zygote.py FD [--preload] [--uid N]``), usually inside a bubblewrap sandbox
(:mod:`grader.grading.sandbox`), and imports nothing of the ``grader`` package but its neighbours in
``grader/sandboxed/`` (the one folder of it mounted inside, at ``/opt/grader``). It imports the heavy modules once
(numpy, torch, matplotlib, ipykernel) and then, for each request, forks a child that becomes either

* ``spawn``: a brand-new IPython kernel (what nbgrader executes a notebook in), or
* ``subject``: a plain process that runs a notebook's student cells with all output discarded and then answers
  function calls on a connected socket the grader hands over with the request (:mod:`grader.integrity.recheck`): arrays
  in, arrays out, nothing else.

The zygote listens on a socket it inherits as a file descriptor (``FD``): the grader bound it to a path outside every
sandbox, so no process in here can reach, replace or take over the zygote's socket by a path, and each child closes
it. Before each fork, and whenever the grader asks (``clean``: after every kernel and before the grader reads what a
notebook produced), the zygote kills whatever its children left running in the sandbox and empties ``/tmp``, so
nothing passes from one student to the next and nothing a student started outlives its notebook. Each child then
limits itself (address space, CPU time, processes, file size, open files) and, when the zygote runs as root, drops
to an unprivileged user id of its own, so that the process limit holds and the child can neither signal the zygote
nor read files the grader did not hand it.

Requests and answers are messages of grader/sandboxed/wire.py on the zygote's Unix socket; a ``subject`` request carries
its socket as ``SCM_RIGHTS`` ancillary data.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

if __package__:
    from grader.sandboxed import wire
else:  # inside the sandbox: a script next to wire.py, without the grader package
    import wire

PRELOAD = ("numpy", "torch", "torch.nn.functional", "matplotlib", "matplotlib.pyplot", "IPython", "ipykernel.kernelapp",
           "ipykernel.ipkernel", "ipykernel.debugger", "matplotlib_inline.backend_inline",
           "IPython.core.inputtransformer2")
# Environment a child keeps from the request (everything else, instructor secrets included, is dropped).
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "MPLBACKEND", "NBGRADER_EXECUTION", "PYTHONHASHSEED", "JPY_SESSION_NAME",
            "PYDEVD_DISABLE_FILE_VALIDATION")

# Started by grader.grading.sandbox (read before children clear it):
SANDBOXED = os.environ.get("GRADER_SANDBOXED") == "1"
KEEP = [Path(p) for p in os.environ.get("GRADER_KEEP", "").split(os.pathsep) if p]   # the grader's folders in /tmp
_exits: dict[int, int] = {}     # pid -> wait status of children that ended
_children: set[int] = set()


MAX_REQUEST = 64 * 1024 * 1024   # a request carries a notebook's cells; nothing legitimate comes near this


def _reap(*_: Any) -> None:
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid <= 0:
                break
            _exits[pid] = status
            _children.discard(pid)


def describe_status(status: int | None) -> dict[str, Any]:
    if status is None:
        return {"running": True}
    if os.WIFSIGNALED(status):
        return {"signal": signal.Signals(os.WTERMSIG(status)).name}
    return {"exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1}


# ------------------------------------------------------------------------------------------------ between children


def _leftovers(uid: int | None) -> list[int]:
    """Every process a child of ours left: in a sandbox (own pid namespace) every process but bwrap's init and the
    zygote; outside one, our children and the processes of the students' user id."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, me):
            continue
        pid = int(entry)
        try:
            owner = os.stat(f"/proc/{pid}").st_uid
        except FileNotFoundError:
            continue
        if SANDBOXED or (uid is not None and owner == uid) or pid in _children:
            found.append(pid)
    return found


def _clean_slate(uid: int | None) -> bool:
    """Kill every process the previous children left behind, until none is left (a fork bomb forks while we look);
    empty /tmp (a private tmpfs in the sandbox). True if nothing was left running."""
    import time

    for _ in range(200):
        pids = _leftovers(uid)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _reap()
        time.sleep(0.002)
    _reap()
    if SANDBOXED:
        _remove_ipc(uid)
        # The grader's own folders may be mounted below /tmp: keep those, empty the rest.
        for path in Path("/tmp").iterdir():
            if any(path == k or path in k.parents for k in KEEP):
                continue
            with contextlib.suppress(OSError):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    return not _leftovers(uid) and not (SANDBOXED and _ipc_objects())


def _ipc_objects() -> list[tuple[str, int]]:
    """The System V shared memory segments, message queues and semaphore sets in this (the sandbox's own) IPC
    namespace: what a student's process leaves there outlives it, for the next student to read."""
    found = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                rows = table.read().splitlines()[1:]
        except OSError:
            continue
        found += [(kind, int(row.split()[1])) for row in rows if len(row.split()) > 1]
    return found


def _remove_ipc(uid: int | None) -> None:
    """Remove every System V IPC object of the sandbox (as their owner: the students' user id when running as root,
    since removing another user's needs a capability the zygote does not keep)."""
    objects = _ipc_objects()
    if not objects:
        return
    pid = os.fork()
    if pid == 0:
        try:
            import ctypes

            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            libc = ctypes.CDLL(None, use_errno=True)
            for kind, ident in objects:   # IPC_RMID is 0 for all three
                if kind == "sem":
                    libc.semctl(ident, 0, 0)
                else:
                    getattr(libc, f"{kind}ctl")(ident, 0, None)
        finally:
            os._exit(0)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _limit(limits: dict[str, int]) -> None:
    # POSIX message queues (which outlive their processes and cannot be listed here) get no room at all.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    names = {"memory": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "processes": resource.RLIMIT_NPROC,
             "file_size": resource.RLIMIT_FSIZE, "open_files": resource.RLIMIT_NOFILE}
    for name, value in limits.items():
        if name in names and value:
            soft = hard = int(value)
            if name == "cpu":
                hard = soft + 5  # SIGXCPU at the soft limit, SIGKILL a little later
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(names[name], (soft, hard))


def _become_student(request: dict[str, Any], uid: int | None) -> None:
    """In a fresh child: own session, own working folder, limits, a clean environment, and (as root) its own uid."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    cwd = request["cwd"]
    if uid is not None:
        # The grader made these folders fresh for this student: hand over the folders themselves, never what a link
        # in them points to, and nothing below them (what is there, this student's earlier kernel made).
        for path in [cwd, *request.get("own", [])]:
            os.chown(path, uid, uid, follow_symlinks=False)
    _limit(request.get("limits", {}))
    env = {k: v for k, v in request.get("env", {}).items() if k in KEEP_ENV}
    env.update(HOME=cwd, TMPDIR="/tmp", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    os.environ.clear()
    os.environ.update(env)
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.chdir(cwd)
    _same_random_start()
    with contextlib.suppress(Exception):
        import torch

        torch.set_num_threads(1)


TORCH_DEFAULT_SEED = 67280421310721   # what torch's generator starts from in a fresh process


def _same_random_start() -> None:
    """Every child starts from the same random generators — the kernel and the re-check of a notebook alike, whichever
    zygote forked it — so that code drawing unseeded random numbers sees the same numbers in both (and in every
    re-grade)."""
    import random

    random.seed(0)
    with contextlib.suppress(Exception):
        import numpy

        numpy.random.seed(0)
    with contextlib.suppress(Exception):
        import torch

        torch.manual_seed(TORCH_DEFAULT_SEED)


def _run_kernel(request: dict[str, Any]) -> None:
    argv = list(request["argv"])
    if request.get("connection") and "-f" in argv:
        own_copy = f"/tmp/kernel-{os.getpid()}.json" if SANDBOXED else None
        if own_copy:
            fd = os.open(own_copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(request["connection"])
            argv[argv.index("-f") + 1] = own_copy
    sys.argv = ["ipykernel_launcher", *argv]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


def _run_subject(request: dict[str, Any], conn: socket.socket) -> None:
    """Run the student cells with output discarded, then answer calls (subject.py) on ``conn`` until the grader
    hangs up."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import subject  # next to this file, and like it importable without the grader package

    subject.main(request, conn)


def warm_up() -> None:
    """Make once, before forking, the first calls that cost every fresh process up to a second each.

    torch imports much lazily on first use: an optimiser's first ``step`` (~1 s on this machine's CPU),
    ``torch.testing.assert_close`` (~0.5 s), ``gradcheck`` (~0.2 s). The notebooks, their visible tests and the
    hidden tests use all three, so every kernel and every re-check process would pay again. No random numbers are
    drawn and the RNG state is put back: a child starts exactly as a fresh interpreter would.
    """
    import torch

    state = torch.get_rng_state()
    param = torch.nn.Parameter(torch.ones(3))
    for make in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.Adagrad, torch.optim.RMSprop):
        optimiser = make([param], lr=0.1)
        (param * param).sum().backward()
        optimiser.step()
        optimiser.zero_grad()
    torch.testing.assert_close(torch.ones(2), torch.ones(2))
    torch.autograd.gradcheck(lambda x: x * 2, (torch.ones(2, dtype=torch.float64, requires_grad=True),))
    torch.set_rng_state(state)


def serve(listen_fd: int, preload: bool, uid: int | None) -> None:
    import importlib

    # ipykernel selects matplotlib's inline backend through this variable; set it before matplotlib loads.
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if preload:
        for module in PRELOAD:
            importlib.import_module(module)
        warm_up()
    # Every object imported so far moves to the collector's permanent generation. Without this, the first garbage
    # collection in each child walks (and so writes to) every object inherited from the zygote, copying most of its
    # ~300 MB page by page: 0.2 s of CPU per kernel, more than the kernel's own start-up. Objects the child creates
    # are collected as usual.
    import gc

    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, _reap)
    server = socket.socket(fileno=listen_fd)   # bound and listening: the grader made it outside the sandbox
    print("ready " + os.readlink("/proc/self/ns/pid"), flush=True)
    while True:
        try:
            conn, _ = server.accept()
        except InterruptedError:
            continue
        with conn:
            try:
                conn.settimeout(REQUEST_SECONDS)   # a peer that sends no full request cannot stall the zygote
                _answer(conn, server, uid)
            except (OSError, ValueError, KeyError, TypeError, RecursionError, OverflowError):  # a broken request
                pass  # is dropped, the zygote goes on


REQUEST_SECONDS = 10


def _answer(conn: socket.socket, server: socket.socket, uid: int | None) -> None:
    """Read one request from ``conn`` and answer it (forking a child for ``spawn`` and ``subject``)."""
    fds: list[int] = []
    try:
        # the whole request by the deadline, however it trickles in (the socket's timeout bounds each read only)
        request = wire.receive(conn, deadline=time.monotonic() + REQUEST_SECONDS, limit=MAX_REQUEST, fds=fds) or {}
    except (OSError, ValueError) as err:
        request = {"op": "unreadable", "why": repr(err)[:300]}
    try:
        _dispatch(conn, server, uid, request, fds)
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)   # (the child has its own copy)


def _dispatch(conn: socket.socket, server: socket.socket, uid: int | None, request: dict[str, Any],
              fds: list[int]) -> None:
    op = request.get("op")
    if op == "ping":
        wire.send(conn, {"ok": True})
        return
    if op == "clean":
        wire.send(conn, {"ok": _clean_slate(uid)})
        return
    if op == "status":
        _reap()
        status = _exits.get(int(request["pid"]))
        wire.send(conn, describe_status(status))
        return
    if op not in ("spawn", "subject") or (op == "subject" and len(fds) != 1):
        answer = {"error": "unknown request", "op": str(op)[:40], "fds": len(fds), "why": request.get("why")}
        wire.send(conn, answer)
        return
    _clean_slate(uid)
    pid = os.fork()
    if pid == 0:  # the child
        server.close()
        conn.close()
        code = 0
        try:
            _become_student(request, uid)
            if op == "spawn":
                _run_kernel(request)
            else:
                _run_subject(request, socket.socket(fileno=fds[0]))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # the child must never return into the zygote's loop
            with contextlib.suppress(Exception):
                import traceback

                traceback.print_exc()  # to the grader's log when GRADER_DEBUG is set
            code = 70
        finally:
            os._exit(code)
    _children.add(pid)
    wire.send(conn, {"pid": pid, "pidns": os.readlink("/proc/self/ns/pid")})


if __name__ == "__main__":
    args = sys.argv[1:]
    uid_arg = args[args.index("--uid") + 1] if "--uid" in args else None
    serve(int(args[0]), "--preload" in args, int(uid_arg) if uid_arg else None)
