"""Kernel isolation layers applied to each sandboxed child. Each is optional: callers record what is active."""
