"""A static classifier for unsafe-looking code, over the AST of every extracted program.

A statistic, not a defence: the notes measured ten bypasses of such scanners (sympify of built strings,
re-exported modules, dunder chains). The sandbox is the protection; this counts what programs *try*, in
categories the report can compare with what the sandbox denied at run time. It never raises, whatever the input.
"""

from __future__ import annotations

import ast
from enum import StrEnum

from pydantic import BaseModel

from .syntax import parse_python


class Category(StrEnum):
    FILESYSTEM = "filesystem"  # writing, deleting, moving files
    PROCESS = "process"  # shells, subprocesses, forks, signals
    NETWORK = "network"
    DYNAMIC = "dynamic-code"  # eval, exec, compile, __import__, importlib
    INTROSPECTION = "introspection"  # dunder chains, __subclasses__, globals(), getattr with computed names
    SYSTEM = "system"  # environment, ctypes, users, the interpreter's internals
    OTHER = "other"  # deserialisation of code, reading input


class Finding(BaseModel):
    category: Category
    line: int
    what: str


_MODULES = {
    "subprocess": Category.PROCESS,
    "multiprocessing": Category.PROCESS,
    "pty": Category.PROCESS,
    "signal": Category.PROCESS,
    "socket": Category.NETWORK,
    "ssl": Category.NETWORK,
    "urllib": Category.NETWORK,
    "http": Category.NETWORK,
    "requests": Category.NETWORK,
    "httpx": Category.NETWORK,
    "ftplib": Category.NETWORK,
    "smtplib": Category.NETWORK,
    "telnetlib": Category.NETWORK,
    "xmlrpc": Category.NETWORK,
    "asyncio": Category.NETWORK,
    "shutil": Category.FILESYSTEM,
    "tempfile": Category.FILESYSTEM,
    "importlib": Category.DYNAMIC,
    "ctypes": Category.SYSTEM,
    "cffi": Category.SYSTEM,
    "pwd": Category.SYSTEM,
    "grp": Category.SYSTEM,
    "getpass": Category.SYSTEM,
    "resource": Category.SYSTEM,
    "gc": Category.SYSTEM,
    "inspect": Category.INTROSPECTION,
    "pickle": Category.OTHER,
    "marshal": Category.OTHER,
    "shelve": Category.OTHER,
    "dill": Category.OTHER,
}
_CALLS = {
    "eval": Category.DYNAMIC,
    "exec": Category.DYNAMIC,
    "compile": Category.DYNAMIC,
    "__import__": Category.DYNAMIC,
    "globals": Category.INTROSPECTION,
    "locals": Category.INTROSPECTION,
    "vars": Category.INTROSPECTION,
    "breakpoint": Category.SYSTEM,
    "input": Category.OTHER,
    "os.system": Category.PROCESS,
    "os.popen": Category.PROCESS,
    "os.fork": Category.PROCESS,
    "os.forkpty": Category.PROCESS,
    "os.kill": Category.PROCESS,
    "os.killpg": Category.PROCESS,
    "os.remove": Category.FILESYSTEM,
    "os.unlink": Category.FILESYSTEM,
    "os.rmdir": Category.FILESYSTEM,
    "os.removedirs": Category.FILESYSTEM,
    "os.rename": Category.FILESYSTEM,
    "os.replace": Category.FILESYSTEM,
    "os.mkdir": Category.FILESYSTEM,
    "os.makedirs": Category.FILESYSTEM,
    "os.chmod": Category.FILESYSTEM,
    "os.chown": Category.FILESYSTEM,
    "os.truncate": Category.FILESYSTEM,
    "os.symlink": Category.FILESYSTEM,
    "os.link": Category.FILESYSTEM,
    "os.getenv": Category.SYSTEM,
    "os.putenv": Category.SYSTEM,
    "os.setuid": Category.SYSTEM,
    "os.setgid": Category.SYSTEM,
    "os.chroot": Category.SYSTEM,
    "os.chdir": Category.FILESYSTEM,
}
_PREFIXES = {"os.exec": Category.PROCESS, "os.spawn": Category.PROCESS, "os.posix_spawn": Category.PROCESS}
_PATH_METHODS = {"write_text", "write_bytes", "unlink", "rmdir", "touch", "rename", "replace", "chmod", "symlink_to"}
_SAFE_DUNDERS = {
    "__name__",
    "__doc__",
    "__init__",
    "__main__",
    "__len__",
    "__str__",
    "__repr__",
    "__eq__",
    "__hash__",
    "__lt__",
    "__iter__",
    "__next__",
    "__add__",
    "__mul__",
    "__version__",
}


def scan(code: str) -> list[Finding]:
    """Findings in line order; [] for safe code and for code that does not parse (it cannot run either)."""
    try:
        tree = parse_python(code)
        visitor = _Visitor()
        visitor.visit(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return sorted(visitor.findings, key=lambda f: (f.line, f.category))


class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}  # local name -> dotted origin ("o" -> "os", "system" -> "os.system")

    def _flag(self, category: Category, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(category=category, line=getattr(node, "lineno", 0), what=what))

    def _module(self, name: str, node: ast.AST) -> None:
        top = name.split(".")[0]
        if top in _MODULES:
            self._flag(_MODULES[top], node, f"import {name}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            self.aliases[alias.asname or top] = alias.name if alias.asname else top
            self._module(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._module(module, node)
        for alias in node.names:
            origin = f"{module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = origin
            if origin in _CALLS:
                self._flag(_CALLS[origin], node, f"from {module} import {alias.name}")

    def _dotted(self, node: ast.AST) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(self.aliases.get(node.id, node.id))
        return ".".join(reversed(parts))

    def visit_Call(self, node: ast.Call) -> None:
        name = self._dotted(node.func)
        if name is not None:
            category = _CALLS.get(name) or next((c for p, c in _PREFIXES.items() if name.startswith(p)), None)
            if category is not None:
                self._flag(category, node, f"{name}()")
            elif name in ("open", "io.open", "os.open") and _writes(node):
                self._flag(Category.FILESYSTEM, node, "open() for writing")
            elif (
                name in ("getattr", "setattr", "delattr")
                and len(node.args) >= 2
                and not (
                    isinstance(node.args[1], ast.Constant)
                    and isinstance(node.args[1].value, str)
                    and not node.args[1].value.startswith("__")
                )
            ):
                self._flag(Category.INTROSPECTION, node, f"{name}() with a computed or dunder name")
        if isinstance(node.func, ast.Attribute) and node.func.attr in _PATH_METHODS and name not in _CALLS:
            self._flag(Category.FILESYSTEM, node, f".{node.func.attr}()")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("__") and node.attr.endswith("__") and node.attr not in _SAFE_DUNDERS:
            self._flag(Category.INTROSPECTION, node, f".{node.attr}")
        elif self._dotted(node) == "os.environ":
            self._flag(Category.SYSTEM, node, "os.environ")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self._flag(Category.INTROSPECTION, node, "__builtins__")


def _writes(call: ast.Call) -> bool:
    """open() with a mode that writes, or a mode we cannot see."""
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(ch in mode.value for ch in "wax+")
    return True
