"""A search's results in other tools' formats, read through the public API."""
