"""The search engine: plans candidates, runs them through generate, check, repair and train."""
