"""Run one program as `__main__`: fresh globals, deterministic `random`, a traceback without this file's
frame, SystemExit honoured, atexit handlers run, output flushed.

Standard library only, so the subprocess mode can run this file by path without importing the package.
"""

from __future__ import annotations

# Imported at module level: the fork server imports this module once, so children pay nothing for them.
import atexit
import builtins
import io
import os
import random
import sys
import traceback
import types
from typing import NoReturn


def seed_numpy() -> None:
    """Seed numpy's global RNG. The fork server does it once (it costs ~9 ms) and every child inherits the
    state; `random` is seeded per run instead, because it re-seeds itself from urandom after a fork."""
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)


def run_program(code: str, done_fd: int | None = None) -> NoReturn:
    """Run `code` as `__main__` from file "main.py"; exit with its status. Never returns.

    With `done_fd`, the program's end is announced before the process exits (tearing down a forked address
    space takes longer than most programs): stdout and stderr are closed, then the exit status is written there.
    """
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace")
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    sys.argv = ["main.py"]
    random.seed(0)  # deterministic unless the program seeds it itself
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "__file__": "main.py"})
    sys.modules["__main__"] = main
    status = 0
    try:
        exec(compile(code, "main.py", "exec"), main.__dict__)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            status = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            status = 1
    except BaseException as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # drop this runner's frame
        traceback.print_exception(type(exc), exc, tb)
        status = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    if done_fd is not None:
        try:
            os.close(1)
            os.close(2)
            os.write(done_fd, bytes([status & 0xFF]))
        except OSError:
            pass  # the program closed them itself: its end is seen at its exit instead
    os._exit(status)


if __name__ == "__main__":
    with open("main.py", encoding="utf-8") as fh:
        run_program(fh.read())
