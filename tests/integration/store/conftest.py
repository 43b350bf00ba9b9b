"""The store's PostgreSQL tests use the session server of tests/integration/conftest.py."""
