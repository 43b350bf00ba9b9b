"""The ledger's one error: its database is out of reach."""

from rpc.errors import Unavailable


class QuotaLedgerUnavailable(Unavailable):
    """The quota ledger's database cannot be reached: a request that needs a quota is refused
    (UNAVAILABLE) rather than granted; it may work once the database is back."""
