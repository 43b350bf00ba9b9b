"""The behaviour every Store backend must show; a backend's test class inherits StoreContract."""

from tests.unit.search_core.store.contract.candidates import CandidatesContract
from tests.unit.search_core.store.contract.leases import LeasesContract
from tests.unit.search_core.store.contract.records import RecordsContract
from tests.unit.search_core.store.contract.search_listing import SearchListingContract


class StoreContract(RecordsContract, CandidatesContract, LeasesContract, SearchListingContract):
    """Subclass as `Test<Backend>Contract` and provide a `store_url` fixture (an empty database)."""


__all__ = ["StoreContract"]
