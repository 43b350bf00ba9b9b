"""The `nasforge` command line."""
