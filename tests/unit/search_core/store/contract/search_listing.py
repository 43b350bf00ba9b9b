"""search_page: a tenant's searches newest first, filtered, keyset-paged, scoped."""

import pytest

from search_core.domain import Method, SearchState
from search_core.store import Store
from tests.unit.search_core.store.contract.fixtures import StoreFixtures, search


class SearchListingContract(StoreFixtures):
    @pytest.fixture
    def listed(self, store: Store) -> Store:
        for index in range(5):
            state = SearchState.CANCELLED if index == 1 else SearchState.QUEUED
            store.create_search(search(f"s{index}", created_at=100 + index, state=state))
        store.create_search(search("other", tenant_id="t2", created_at=200))
        return store

    def test_newest_first_in_pages_with_none_repeated(self, listed: Store) -> None:
        first = listed.search_page("t1", page_size=2)
        second = listed.search_page("t1", page_size=2, page_token=first.next_token)
        third = listed.search_page("t1", page_size=2, page_token=second.next_token)
        ids = [s.search_id for page in (first, second, third) for s in page.items]
        assert ids == ["s4", "s3", "s2", "s1", "s0"]
        assert first.next_token and second.next_token and third.next_token == ""

    def test_filters_by_state_and_method(self, listed: Store) -> None:
        cancelled = listed.search_page("t1", states=[SearchState.CANCELLED])
        assert [s.search_id for s in cancelled.items] == ["s1"]
        assert listed.search_page("t1", methods=[Method.FAIRNAD]).items == []
        assert len(listed.search_page("t1", methods=[Method.RANDOM]).items) == 5

    def test_another_tenants_searches_and_tokens_are_not_served(self, listed: Store) -> None:
        assert [s.search_id for s in listed.search_page("t2").items] == ["other"]
        token = listed.search_page("t1", page_size=1).next_token
        with pytest.raises(ValueError, match="another listing"):
            listed.search_page("t2", page_token=token)
        with pytest.raises(ValueError, match="invalid page token"):
            listed.search_page("t1", page_token="not-a-token")
