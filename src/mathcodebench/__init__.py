"""mathcodebench: LLMs write Python programs for competition mathematics; we run, retry and grade them."""

__version__ = "0.1.0"
