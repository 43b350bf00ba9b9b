"""FairNAD's design-knowledge tree: the shipped default, merging, fair sampling, LLM extraction."""
