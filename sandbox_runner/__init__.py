"""sandbox_runner: checks untrusted candidates in single-use, locked-down Docker containers."""
