"""The one wire format of the sandbox's sockets (grader.sandboxed.wire): what crosses, what is refused, and a zygote
that meets garbage, a trickle or a huge announcement keeps serving."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from grader.grading.sandbox import Isolation, Limits
from grader.grading.zygote_client import Zygote, ask
from grader.sandboxed import wire


def test_a_message_and_its_descriptors_cross_whole() -> None:
    ours, theirs = socket.socketpair()
    read_end, write_end = os.pipe()
    with ours, theirs:
        sender = threading.Thread(target=wire.send, args=(ours, {"op": "x", "text": "é" * 100_000}, [read_end]))
        sender.start()   # larger than the socket's buffer: sent while it is read
        fds: list[int] = []
        message = wire.receive(theirs, fds=fds)
        sender.join()
        assert message == {"op": "x", "text": "é" * 100_000}
        assert len(fds) == 1
        os.write(write_end, b"through")
        assert os.read(fds[0], 7) == b"through", "the descriptor received is the pipe that was sent"
        for fd in (read_end, write_end, *fds):
            os.close(fd)


def test_descriptors_nobody_asked_for_are_closed() -> None:
    ours, theirs = socket.socketpair()
    read_end, write_end = os.pipe()
    with ours, theirs:
        wire.send(ours, {"op": "x"}, [read_end])
        before = set(os.listdir("/proc/self/fd"))
        assert wire.receive(theirs) == {"op": "x"}
        assert set(os.listdir("/proc/self/fd")) <= before, "a received descriptor was left open"
        os.close(read_end)
        os.close(write_end)


@pytest.mark.parametrize(("frame", "error"), [
    (struct.pack("!Q", 2**40), "refused"),
    (struct.pack("!Q", 2) + b"[]", "not a JSON object"),
])
def test_a_huge_announcement_or_a_non_object_is_refused(frame: bytes, error: str) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.sendall(frame)
        with pytest.raises(ValueError, match=error):
            wire.receive(theirs, limit=1024)


def test_a_hang_up_mid_message_is_none_and_a_trickle_meets_the_deadline() -> None:
    ours, theirs = socket.socketpair()
    with theirs:
        with ours:
            ours.sendall(struct.pack("!Q", 10) + b"{}")
        assert wire.receive(theirs) is None
    ours, theirs = socket.socketpair()
    with ours, theirs:
        def trickle() -> None:
            with contextlib.suppress(OSError):
                for byte in struct.pack("!Q", 100) + b" " * 100:
                    ours.send(bytes([byte]))
                    time.sleep(0.05)

        threading.Thread(target=trickle, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            wire.receive(theirs, deadline=time.monotonic() + 0.5)
        assert time.monotonic() - started < 2, "each byte must not restart the clock"


def test_the_zygote_answers_after_garbage_and_a_stalled_peer(tmp_path: Path) -> None:
    (tmp_path / "control").mkdir(mode=0o700)
    zygote = Zygote(tmp_path / "control" / "kernel.sock", Isolation(limits=Limits()), "kernel", preload=False)
    try:
        path = str(zygote.socket_path)
        nested = b"[" * 200_000   # deeper than json can parse (RecursionError)
        overflow = b'{"op": "status", "pid": 1e999}'   # int(inf): OverflowError
        for garbage in (b"not a frame at all", struct.pack("!Q", 2**50), struct.pack("!Q", 3) + b"[1]", b"",
                        struct.pack("!Q", len(nested)) + nested, struct.pack("!Q", len(overflow)) + overflow):
            with socket.socket(socket.AF_UNIX) as conn:
                conn.connect(path)
                conn.sendall(garbage)
                conn.shutdown(socket.SHUT_WR)
                with contextlib.suppress(OSError, ValueError):
                    wire.receive(conn, deadline=time.monotonic() + 5)
        assert ask(path, {"op": "ping"}, timeout=5) == {"ok": True}
        assert ask(path, {"op": "no such thing"}, timeout=5)["error"] == "unknown request"
        assert zygote.alive()
    finally:
        zygote.stop()


def test_a_peer_that_trickles_its_request_holds_the_zygote_no_longer_than_its_deadline(tmp_path: Path) -> None:
    (tmp_path / "control").mkdir(mode=0o700)
    zygote = Zygote(tmp_path / "control" / "kernel.sock", Isolation(limits=Limits()), "kernel", preload=False)
    stop = threading.Event()
    try:
        path = str(zygote.socket_path)
        staller = socket.socket(socket.AF_UNIX)
        staller.connect(path)

        def trickle() -> None:   # a byte every second: each read is quick, the whole request never arrives
            with contextlib.suppress(OSError):
                for byte in struct.pack("!Q", 1000) + b" " * 1000:
                    if stop.is_set():
                        return
                    staller.send(bytes([byte]))
                    time.sleep(1)

        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(0.5)
        started = time.monotonic()
        assert ask(path, {"op": "ping"}, timeout=30) == {"ok": True}
        assert time.monotonic() - started < 20, "the trickling peer held the zygote past its request deadline"
    finally:
        stop.set()
        staller.close()
        zygote.stop()


def test_a_zygote_that_never_answers_a_spawn_is_an_error_not_a_wait(tmp_path: Path) -> None:
    """A stopped or stuck zygote must not hold its worker: the spawn request fails after its timeout."""
    from grader.grading.zygote_client import request_pid

    path = str(tmp_path / "silent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    try:
        with pytest.raises(RuntimeError, match=r"did not answer a spawn request within 0\.5 s"):
            request_pid(path, {"op": "spawn", "argv": []}, timeout=0.5)
    finally:
        for conn in held:
            conn.close()
        server.close()
