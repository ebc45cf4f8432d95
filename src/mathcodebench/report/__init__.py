"""Stage: turn a stored run into tables (reads the store only)."""

from .ablation import Ablation, ablation, find_ablations
from .compare import Paired, all_pairs, mcnemar_exact, paired
from .console import domain_gap, render, render_ablation, render_comparison
from .summary import Summary, Tally, summarize, wilson

__all__ = [
    "Ablation",
    "Paired",
    "Summary",
    "Tally",
    "ablation",
    "all_pairs",
    "domain_gap",
    "find_ablations",
    "mcnemar_exact",
    "paired",
    "render",
    "render_ablation",
    "render_comparison",
    "summarize",
    "wilson",
]
