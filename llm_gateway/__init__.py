"""llm_gateway: the only way nasforge talks to language models."""
