"""The Net API contract: task specs, outcomes, and the static checker of candidate code.

Nothing here imports torch or grpc: the checker reads candidates with `ast` only, so any
service (and the CLI) can use it, and it never runs the code it reads.
"""
