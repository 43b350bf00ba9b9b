-- How a candidate's code came to be: deterministic fixes, the generation mode and merge,
-- whether its idea is on the path from input to loss, the LLM's usage, its MinHash.
ALTER TABLE candidates ADD COLUMN fixes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE candidates ADD COLUMN generation TEXT NOT NULL DEFAULT '{}';
ALTER TABLE candidates ADD COLUMN idea_applied BOOLEAN;
ALTER TABLE candidates ADD COLUMN unused_parameters TEXT NOT NULL DEFAULT '[]';
ALTER TABLE candidates ADD COLUMN llm_usage TEXT NOT NULL DEFAULT '{}';
ALTER TABLE candidates ADD COLUMN signature TEXT;
