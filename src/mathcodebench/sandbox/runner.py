"""Run untrusted code as `__main__`: a program (fresh globals, exit with its status) or a session's blocks (one
`__main__` for all of them, each block's end announced while the process lives on). `random` is deterministic,
tracebacks have no frame of this file, SystemExit is honoured, atexit handlers run, output is flushed.

Standard library only, so the subprocess mode can run this file by path without importing the package.
"""

from __future__ import annotations

# Imported at module level: the fork server imports this module once, so children pay nothing for them.
import atexit
import builtins
import contextlib
import io
import linecache
import os
import random
import struct
import sys
import traceback
import types
from typing import NoReturn

SESSION_READY = b"S"  # a session's child, set up, waits for its first block
BLOCK_OK, BLOCK_RAISED = 0, 1  # a block's end, as announced on the session's status pipe
_BLOCK = struct.Struct("=Q")  # a block as the session's child receives it: its length, then its UTF-8 source


def seed_numpy() -> None:
    """Seed numpy's global RNG. The fork server does it once (it costs ~9 ms) and every child inherits the
    state; `random` is seeded per run instead, because it re-seeds itself from urandom after a fork."""
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)


def read_exact(fd: int, n: int) -> bytes:
    """`n` bytes from `fd`; EOFError when the writer closes it first."""
    data = bytearray()
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError("the server closed the request pipe")
        data += chunk
    return bytes(data)


def encode_block(code: str) -> bytes:
    source = code.encode("utf-8", "surrogatepass")
    return _BLOCK.pack(len(source)) + source


def prepare() -> types.ModuleType:
    """Standard streams on descriptors 0-2, deterministic `random`, a fresh `__main__`, and the compiler used once.
    A pre-forked child does this before its program arrives: in a copy-on-write child even these first steps
    cost a few hundred microseconds of page faults, which would otherwise come after the program's handover."""
    compile("pass", "main.py", "exec")
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace")
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    sys.argv = ["main.py"]
    random.seed(0)  # deterministic unless the code seeds it itself
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "__file__": "main.py"})
    sys.modules["__main__"] = main
    return main


def _execute(code: str, filename: str, main: types.ModuleType) -> tuple[int, bool]:
    """Run `code` in `main`'s globals: (status, whether it asked to exit). Status 0: it ran to its end; 1: it
    raised (the traceback is on stderr); with SystemExit, the status it exits with."""
    try:
        exec(compile(code, filename, "exec"), main.__dict__)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0, True
        print(exc.code, file=sys.stderr)
        return 1, True
    except BaseException as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # drop this runner's frame
        traceback.print_exception(type(exc), exc, tb)
        return 1, False
    return 0, False


def _flush() -> None:
    with contextlib.suppress(BaseException):  # the code closed or replaced them: what it wrote is what arrived
        sys.stdout.flush()
        sys.stderr.flush()


def _exit(status: int, done_fd: int | None) -> NoReturn:
    """Run atexit handlers, flush, and exit with `status`. With `done_fd`, the end is announced before the process
    exits (tearing down a forked address space takes longer than most programs): stdout and stderr are closed,
    then the exit status is written there."""
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    _flush()
    if done_fd is not None:
        try:
            os.close(1)
            os.close(2)
            os.write(done_fd, bytes([status & 0xFF]))
        except OSError:
            pass  # the code closed them itself: its end is seen at its exit instead
    os._exit(status)


def run_program(code: str, main: types.ModuleType, done_fd: int | None = None) -> NoReturn:
    """Run `code` as `main` (from `prepare`) from file "main.py"; exit with its status. Never returns."""
    status, _ = _execute(code, "main.py", main)
    _exit(status, done_fd)


def run_session(request_fd: int, status_fd: int, main: types.ModuleType, done_fd: int | None = None) -> NoReturn:
    """Run blocks, as they arrive on `request_fd`, in `main` (from `prepare`) until the request pipe closes or a
    block exits. After each block the output is flushed and one byte (BLOCK_OK or BLOCK_RAISED) written to
    `status_fd`; the sender pauses the process until it sends the next. Block n is the file "block<n>.py" in
    tracebacks, with its source lines shown. Never returns."""
    os.write(status_fd, SESSION_READY)
    number = 0
    while True:
        try:
            (size,) = _BLOCK.unpack(read_exact(request_fd, _BLOCK.size))
            code = read_exact(request_fd, size).decode("utf-8", "surrogatepass")
        except (EOFError, OSError):  # the session is closed (or the code closed the pipe: it cannot go on)
            os._exit(0)
        number += 1
        filename = f"block{number}.py"
        linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
        status, exits = _execute(code, filename, main)
        if exits:
            _exit(status, done_fd)
        _flush()
        try:
            os.write(status_fd, bytes([BLOCK_OK if status == 0 else BLOCK_RAISED]))
        except OSError:  # the code closed the pipe: its end is seen at its exit instead
            _exit(status, done_fd)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--session"]:
        run_session(int(sys.argv[2]), int(sys.argv[3]), prepare())
    with open("main.py", encoding="utf-8") as fh:
        run_program(fh.read(), prepare())
