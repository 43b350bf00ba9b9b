"""The store: one interface (base.Store), SQLite by default, PostgreSQL when given a URL."""
