"""search_core: searches, candidates, the zoo, the knowledge tree, the store and the public API."""
