"""Unit tests of the search engine."""
