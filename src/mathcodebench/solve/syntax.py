"""The one way the solve stage parses Python: under a process-wide lock.

CPython 3.11's AST-to-object conversion keeps a recursion-depth counter that parses running at the same time
in several threads corrupt ("SystemError: AST constructor recursion depth mismatch"), and the run scheduler
solves problems in threads. A parse takes well under a millisecond, so serialising them costs nothing.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse_python(code: str, filename: str = "<unknown>") -> ast.Module:
    with _LOCK:
        return ast.parse(code, filename=filename)
