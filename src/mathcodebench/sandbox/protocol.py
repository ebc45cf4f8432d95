"""Length-prefixed JSON messages between the harness and a fork server over a pipe pair."""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

_HEADER = struct.Struct(">I")
MAX_MESSAGE = 64 << 20


def write_all(fd: int, payload: bytes, deadline: float | None = None) -> None:
    """Write all of `payload`; with a `deadline` (`fd` non-blocking), TimeoutError when the reader does not take
    it all in time."""
    view = memoryview(payload)
    while view:
        if deadline is not None and not _ready(fd, select.POLLOUT, deadline):
            raise TimeoutError("the peer did not take the message in time")
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue


def send(fd: int, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()
    write_all(fd, _HEADER.pack(len(data)) + data)


def _ready(fd: int, events: int, deadline: float) -> bool:
    poller = select.poll()  # not select(): a harness may hold descriptors above FD_SETSIZE
    poller.register(fd, events | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0.0, deadline - time.monotonic()) * 1000))


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        if deadline is not None and not _ready(fd, select.POLLIN, deadline):
            raise TimeoutError("the peer did not answer in time")
        chunk = os.read(fd, n - len(chunks))
        if not chunk:
            raise EOFError("peer closed the pipe")
        chunks += chunk
    return bytes(chunks)


def receive(fd: int, timeout_s: float | None = None) -> dict[str, Any]:
    """The next message; TimeoutError when all of it has not arrived within `timeout_s` (None: wait)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes exceeds the limit")
    message: dict[str, Any] = json.loads(_read_exact(fd, size, deadline))
    return message
