"""The in-container check harness: runs a candidate's Net API stages. Imports torch; runs
only inside a sandbox container (or an isolated worker process in benchmarks).
"""
