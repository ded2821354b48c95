"""The sandbox every student process runs in: bubblewrap namespaces, resource limits and an unprivileged user.

A grading worker starts its zygote (:mod:`grader.sandboxed.zygote`) through ``bwrap`` (Debian package ``bubblewrap``),
so the zygote and every kernel it forks see a file system made of an allow-list of read-only folders:

* the system (``/usr``, ``/etc``), the Python installation and the virtual environment, read-only;
* the worker's own scratch folders, read-write: the notebook being graded and the kernel's sockets;
* nothing of the ``grader`` package, in either profile (``kernel``: nbgrader's kernels; ``subject``: the
  out-of-process re-check): hidden tests and the references they compare with run only on the grader's side, so the
  student's code can neither read nor import them (when the package is installed inside a mounted environment, an
  empty folder is mounted over it);
* a private ``/tmp``, ``/proc`` and ``/dev``.

Nothing else exists in there: not ``solutions/``, not the gradebook, not other students' submissions, not the
instructor's home. Network, IPC, PID and UTS namespaces are new (no network at all, not even to the grader's own
ports), and the sandbox dies with its worker. Each forked child then sets its own resource limits (:class:`Limits`)
and, when grading runs as root, becomes a user id of its own so that the process limit applies and it cannot signal
the zygote. See the README ("What the sandbox protects against") for what it does not do.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.project import REPO, GraderError

GRADER_DIR = Path(__file__).resolve().parent.parent
SANDBOXED_DIR = GRADER_DIR / "sandboxed"   # what runs in the sandbox; imports nothing else of grader
ZYGOTE_FILE = SANDBOXED_DIR / "zygote.py"
SANDBOX_CODE = "/opt/grader"  # where SANDBOXED_DIR is mounted inside the sandbox (the zygote is SANDBOX_CODE/zygote.py)
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `sudo apt install bubblewrap`; `make system` does it when run as "
                "root)")


@dataclass(frozen=True)
class Limits:
    """Per-process limits for student code (0 = no limit). Memory is address space: torch needs ≥ 1.5 GB."""

    memory: int = 3 * 1024**3     # bytes of address space (RLIMIT_AS)
    cpu: int = 600                # seconds of CPU time (RLIMIT_CPU), per kernel
    processes: int = 256          # processes and threads of the sandbox user (RLIMIT_NPROC)
    file_size: int = 64 * 1024**2  # bytes in any one file written (RLIMIT_FSIZE)
    open_files: int = 1024        # RLIMIT_NOFILE
    cell_seconds: int = 0         # wall-clock seconds per cell (0: nbgrader_config.py's Execute.timeout)

    def as_dict(self) -> dict[str, int]:
        """The process limits (what the zygote applies with setrlimit)."""
        return {k: v for k, v in asdict(self).items() if k != "cell_seconds"}

    def describe(self) -> str:
        return (f"{self.memory / 1024**3:g} GB memory, {self.cpu} s CPU, {self.processes} processes, "
                f"{self.file_size // 1024**2} MB files")


@dataclass(frozen=True)
class Isolation:
    """How student code is run: sandboxed (the default) or, only when the instructor says so, not."""

    sandbox: bool = True
    limits: Limits = Limits()


@functools.cache
def unavailable_reason() -> str | None:
    """Why this machine cannot sandbox (None: it can): no bwrap, or bwrap cannot create its namespaces."""
    if shutil.which("bwrap") is None:
        return f"bubblewrap (`bwrap`) is not installed; {INSTALL_HINT}"
    command = ["bwrap", *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or "").strip().splitlines()[-1:] or ["no message"]
        return (f"bubblewrap cannot create its namespaces here ({detail[0]}); unprivileged user namespaces may be "
                "disabled (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces) or the grader is "
                "itself in a container that forbids them")
    return None


def require_sandbox(isolation: Isolation) -> None:
    """Refuse to grade unprotected unless the instructor opted out explicitly."""
    if not isolation.sandbox:
        return
    reason = unavailable_reason()
    if reason:
        raise GraderError(
            f"cannot sandbox student code on this machine: {reason}.\n"
            "Grading without a sandbox runs every submission as you, with your files and network in reach. To do "
            "it anyway (e.g. on a throwaway VM), pass --no-sandbox.")


def sandbox_uid() -> int | None:
    """A user id of this worker's own for student processes when running as root (None otherwise)."""
    return 200_000 + os.getpid() if os.geteuid() == 0 else None


def _namespaces() -> list[str]:
    flags = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        flags.append("--unshare-user")
    return flags


def _parents(path: Path) -> list[str]:
    """bwrap creates the parents of a mount point with mode 0700; create them 0755 first so any uid can pass."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if str(parent) != "/":
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


# System calls no student process may make, by machine: the kernel's key management (add_key, request_key, keyctl).
# Keyrings belong to a user id and outlive the processes that fill them; every student of a worker runs as the same
# user id, so a key stored by one could be read by the next.
DENIED_SYSCALLS = {"x86_64": (0xC000003E, (248, 249, 250)), "aarch64": (0xC00000B7, (217, 218, 219))}


def seccomp_program() -> bytes:
    """A classic BPF seccomp filter (what ``bwrap --seccomp FD`` loads): EPERM for :data:`DENIED_SYSCALLS` on this
    machine's architecture, everything else allowed. Empty where the architecture is not listed."""
    import platform
    import struct

    machine = platform.machine()
    if machine not in DENIED_SYSCALLS:
        return b""
    arch, denied = DENIED_SYSCALLS[machine]
    ld_abs, jeq, ret = 0x20, 0x15, 0x06          # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
    allow, eperm = 0x7FFF0000, 0x00050001        # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    n = len(denied)
    program = [(ld_abs, 0, 0, 4),                 # seccomp_data.arch
               (jeq, 0, n + 1, arch),             # another architecture: allow (its numbers mean other calls)
               (ld_abs, 0, 0, 0)]                 # seccomp_data.nr
    program += [(jeq, n - i, 0, number) for i, number in enumerate(denied)]
    program += [(ret, 0, 0, allow), (ret, 0, 0, eperm)]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in program)


def seccomp_fd() -> int | None:
    """A file descriptor holding :func:`seccomp_program`, for ``bwrap --seccomp`` (None where there is none)."""
    program = seccomp_program()
    if not program:
        return None
    fd = os.memfd_create("grader-seccomp")
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def command(profile: str, writable: list[Path], program: list[str], seccomp: int | None = None) -> list[str]:
    """The bwrap command that runs ``program`` in a sandbox of the given profile (``kernel`` or ``subject``: the same
    file system; the profile names the sandbox in messages). ``seccomp``: a file descriptor from :func:`seccomp_fd`,
    to be passed to the command."""
    args = ["bwrap", *_namespaces(), "--die-with-parent", "--new-session"]
    if seccomp is not None:
        args += ["--seccomp", str(seccomp)]
    if os.geteuid() == 0:
        # The zygote keeps just what it needs to hand files to, and become, its children's user; they keep nothing.
        args += ["--cap-drop", "ALL"] + [x for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL",
                                                       "CAP_FOWNER", "CAP_DAC_OVERRIDE") for x in ("--cap-add", cap)]
    # First the private /tmp, /proc and /dev, so that binds below /tmp (a worker's scratch folder) stay visible.
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    for top in ("/usr", "/etc"):
        args += ["--ro-bind", top, top]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
    read_only = [Path(sys.base_prefix).resolve(), Path(sys.prefix)]
    for path in [*read_only, *writable]:
        args += _parents(path)
        args += ["--bind" if path in writable else "--ro-bind", str(path), str(path)]
    if _inside(GRADER_DIR, read_only):
        args += ["--tmpfs", str(GRADER_DIR)]  # a non-editable install: hide the package that holds the answers
    args += _parents(Path(SANDBOX_CODE))
    args += ["--ro-bind", str(SANDBOXED_DIR), SANDBOX_CODE]
    args += ["--setenv", "GRADER_SANDBOXED", "1", "--setenv", "GRADER_KEEP", os.pathsep.join(map(str, writable)),
             "--chdir", "/"]
    return [*args, *program]


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(folder in path.parents for folder in folders if folder != REPO)
