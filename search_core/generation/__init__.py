"""Turning an LLM answer into a candidate: merge into the parent, deterministic fixes,
near-copy detection, the feedback memory."""
