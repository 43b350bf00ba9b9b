-- A candidate's warnings: what LEMUR accepts but the Net API spells otherwise (self.criterion,
-- a declared hyperparameter never read), recorded and shown, never its outcome.
ALTER TABLE candidates ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
