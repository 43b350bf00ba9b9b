"""The store: one interface (base.Store), SQLite by default, PostgreSQL when given a URL."""

from search_core.store.base import (
    ActiveSearchLimitReached,
    ClaimedSearch,
    Control,
    SearchLease,
    Store,
    StoreError,
    StoreUnavailable,
)

__all__ = [
    "ActiveSearchLimitReached",
    "ClaimedSearch",
    "Control",
    "SearchLease",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def open_store(url: str, *, pool_size: int = 8, timeout_s: float = 10.0) -> Store:
    """Open the store `url` names and bring its schema up to date (runs migrate()).

    - "sqlite:///relative/file.db", "sqlite:////absolute/file.db" (SQLAlchemy's spelling),
      or a plain filesystem path -> SqliteStore on that file (one connection);
    - "postgresql://..." or "postgres://..." (a libpq URL) -> PostgresStore with a pool of
      at most `pool_size` connections, a call waiting up to `timeout_s` for one;
    - anything else (another scheme, an empty string, ":memory:") -> ValueError.
    """
    if url.startswith(_POSTGRES_PREFIXES):
        from search_core.store.postgres import PostgresStore  # psycopg only when used

        store: Store = PostgresStore(url, pool_size=pool_size, timeout_s=timeout_s)
    elif url.startswith(_SQLITE_PREFIX) or (url and "://" not in url and url != ":memory:"):
        from search_core.store.sqlite import SqliteStore

        path = url.removeprefix(_SQLITE_PREFIX)
        if not path:
            raise ValueError(f"store URL {url!r} names no SQLite file")
        store = SqliteStore(path)
    else:
        raise ValueError(
            f"unsupported store URL {url!r}: expected sqlite:///<path>, a file path,"
            " or postgresql://..."
        )
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
