-- A candidate's kept weights ({"job_id", "sha256", "size_bytes", "epoch"}) and its record of
-- origin (prompt, answer, model, sampling, runtime image, dataset, code hash), as JSON.
ALTER TABLE candidates ADD COLUMN weights TEXT NOT NULL DEFAULT '{}';
ALTER TABLE candidates ADD COLUMN provenance TEXT NOT NULL DEFAULT '{}';
