-- Search leases: a running search is held by one search_core replica (owner) until
-- lease_expires_at (database clock, Unix seconds), renewed by the owner's heartbeat; an
-- expired lease may be claimed by any replica. `requested` is a control asked through the
-- API on any replica ('' none, 'cancel', 'pause'), carried out by the owner.
ALTER TABLE searches ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE searches ADD COLUMN lease_expires_at DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE searches ADD COLUMN requested TEXT NOT NULL DEFAULT '';
CREATE INDEX searches_state_lease ON searches (state, lease_expires_at);
