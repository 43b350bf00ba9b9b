"""`nasforge compare`: methods x seeds under one budget, through the public API, one report.

config (parse, validate, expand) -> gather (gRPC) -> stats (pure) -> render (Markdown, JSON,
PNG); command wires them to the command line.
"""

from cli.compare.command import register, run_compare

__all__ = ["register", "run_compare"]
