"""Unit tests of the search report."""
