"""Helpers shared by test suites (imported as tests.support.<module>)."""
