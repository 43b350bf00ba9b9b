"""A real local stack: search_core with the real gateway, sandbox and trainer."""
