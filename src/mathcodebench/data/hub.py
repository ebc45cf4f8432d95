"""MATH and MATH-500 from the Hugging Face hub, cached by huggingface_hub; offline afterwards.

`hendrycks/competition_math` was taken down in 2025; `EleutherAI/hendrycks_math` keeps the original
fields per subject (`<subject>/{train,test}-*.parquet`), and `HuggingFaceH4/MATH-500` holds PRM800K's
500-problem test subset with its `unique_id`s. Set `HF_HUB_OFFLINE=1` to use only the local cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import UserError
from .readers import Row, jsonl_rows, parquet_rows

MATH_REPO = "EleutherAI/hendrycks_math"
MATH500_REPO = "HuggingFaceH4/MATH-500"


def _snapshot(repo: str, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo, repo_type="dataset", allow_patterns=patterns))
    except LocalEntryNotFoundError:
        raise UserError(
            f"{repo} is not in the local Hugging Face cache and the hub cannot be reached "
            "(download it once while online, or pass a local file or directory)"
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        raise UserError(f"cannot fetch {repo} from the Hugging Face hub: {exc}") from None


def math_rows(split: str) -> tuple[Iterator[Row], str]:
    snapshot = _snapshot(MATH_REPO, [f"*/{split}-*.parquet"])
    files = sorted(snapshot.glob(f"*/{split}-*.parquet"))
    if not files:
        raise UserError(f"{MATH_REPO} snapshot {snapshot.name} holds no {split} files")

    def rows() -> Iterator[Row]:
        for path in files:
            yield from parquet_rows(path, id_prefix=f"{split}/{path.parent.name}")

    return rows(), f"hf:{MATH_REPO}@{snapshot.name} ({split})"


def math500_rows() -> tuple[Iterator[Row], str]:
    snapshot = _snapshot(MATH500_REPO, ["test.jsonl"])
    path = snapshot / "test.jsonl"
    if not path.exists():
        raise UserError(f"{MATH500_REPO} snapshot {snapshot.name} has no test.jsonl")
    return jsonl_rows(path), f"hf:{MATH500_REPO}@{snapshot.name}"
