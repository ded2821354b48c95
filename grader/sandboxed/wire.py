"""The one wire format of every socket that crosses the sandbox (the zygote's requests, the re-check's calls).

A message is a JSON object, sent as an 8-byte big-endian length followed by that many bytes of UTF-8 JSON. File
descriptors, when a message carries any, travel with its first bytes (``SCM_RIGHTS``). A reader names how large a
message it accepts and, optionally, by when the whole of it must have arrived, so a peer that trickles bytes or
announces a huge message stalls no one.

Standard library only: this module runs on both sides of the sandbox (inside it as ``wire``, next to the zygote;
outside it as ``grader.sandboxed.wire``).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from typing import Any

HEADER = struct.Struct("!Q")
MAX_MESSAGE = 256 * 1024 * 1024   # the default limit; each reader passes its own
MAX_FDS = 4                       # descriptors accepted with one message (more are closed)


def send(conn: socket.socket, message: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) -> None:
    """Send ``message`` (a JSON object) on ``conn``, with ``fds`` attached to its first bytes."""
    data = json.dumps(message).encode()
    frame = HEADER.pack(len(data)) + data
    sent = socket.send_fds(conn, [frame], list(fds)) if fds else 0
    if sent < len(frame):
        conn.sendall(frame[sent:])


def receive(conn: socket.socket, deadline: float | None = None, limit: int = MAX_MESSAGE,
            fds: list[int] | None = None) -> dict[str, Any] | None:
    """The next message on ``conn``, or None if the other end hung up before sending one whole
    (:func:`receive_sized` without the size)."""
    return receive_sized(conn, deadline, limit, fds)[0]


def receive_sized(conn: socket.socket, deadline: float | None = None, limit: int = MAX_MESSAGE,
                  fds: list[int] | None = None) -> tuple[dict[str, Any] | None, int]:
    """The next message on ``conn`` and how many bytes of JSON it was (None and 0 if the other end hung up before
    sending one whole).

    ``deadline`` (a ``time.monotonic()`` value): the whole message must have arrived by then, however it trickles
    in (``TimeoutError`` otherwise; without it, the socket's own timeout applies to each read). A message announced
    as larger than ``limit`` bytes is refused before it is read, and one that is not a JSON object is refused
    (``ValueError``). Descriptors that came with the message are appended to ``fds``, or closed when it is None."""
    header = _exactly(conn, HEADER.size, deadline, fds)
    if header is None:
        return None, 0
    (size,) = HEADER.unpack(header)
    if size > limit:
        raise ValueError(f"message of {size} bytes refused (at most {limit})")
    data = _exactly(conn, size, deadline)
    if data is None:
        return None, 0
    message = json.loads(data)
    if type(message) is not dict:
        raise ValueError("message is not a JSON object")
    return message, size


def _exactly(conn: socket.socket, size: int, deadline: float | None, fds: list[int] | None = None) -> bytes | None:
    """``size`` bytes from ``conn`` (None if it hangs up first); descriptors sent with the first bytes go to
    ``fds`` (closed when None)."""
    chunks: list[bytes] = []
    left, first = size, True
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete message before the deadline")
            conn.settimeout(remaining)
        if first:
            chunk, received, _, _ = socket.recv_fds(conn, left, MAX_FDS)
            for fd in received:
                fds.append(fd) if fds is not None else os.close(fd)
            first = False
        else:
            chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
