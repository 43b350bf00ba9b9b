-- The first schema: tenants, searches, their events and candidates, the zoo, knowledge trees.
-- Written for both SQLite and PostgreSQL: TEXT, BIGINT, DOUBLE PRECISION only; JSON as TEXT;
-- times are Unix seconds. Statements end with ';' at the end of a line (see store/schema.py).

CREATE TABLE tenants (
    tenant_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL
);

-- No foreign key to tenants: a search is keyed by the tenant the API authenticated, and
-- tenants are registered on first use, not before every engine write.
CREATE TABLE searches (
    search_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    method TEXT NOT NULL,
    config TEXT NOT NULL,
    task TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    client_request_id TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    error_type TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    status_message TEXT NOT NULL DEFAULT '',
    last_event_sequence BIGINT NOT NULL DEFAULT 0
);

-- Idempotent creation; an empty client_request_id never matches another.
CREATE UNIQUE INDEX searches_client_request ON searches (tenant_id, client_request_id)
    WHERE client_request_id <> '';
CREATE INDEX searches_tenant_created ON searches (tenant_id, created_at);

CREATE TABLE events (
    search_id TEXT NOT NULL REFERENCES searches (search_id) ON DELETE CASCADE,
    sequence BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (search_id, sequence)
);

CREATE TABLE candidates (
    candidate_id TEXT PRIMARY KEY,
    search_id TEXT NOT NULL REFERENCES searches (search_id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    slot BIGINT NOT NULL,
    status TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    code_md5 TEXT NOT NULL DEFAULT '',
    structure_hash TEXT NOT NULL DEFAULT '',
    parent TEXT NOT NULL DEFAULT '',
    generator TEXT NOT NULL,
    prompt_variant TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    snippets TEXT NOT NULL,
    idea TEXT NOT NULL,
    mutation TEXT NOT NULL DEFAULT '',
    genome TEXT,
    outcome TEXT,
    stage TEXT NOT NULL DEFAULT '',
    error_type TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    findings TEXT NOT NULL,
    parameter_count BIGINT,
    flops BIGINT,
    hyperparameters TEXT NOT NULL,
    epochs TEXT NOT NULL,
    score DOUBLE PRECISION,
    scores TEXT NOT NULL,
    repair_attempts BIGINT NOT NULL DEFAULT 0,
    history TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    UNIQUE (search_id, slot)
);

CREATE INDEX candidates_search_status ON candidates (search_id, status);
CREATE INDEX candidates_tenant_code ON candidates (tenant_id, code_md5);
CREATE INDEX candidates_tenant_structure ON candidates (tenant_id, structure_hash);
CREATE INDEX candidates_tenant_score ON candidates (tenant_id, outcome, score);

CREATE TABLE zoo_models (
    name TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    code TEXT NOT NULL,
    family TEXT NOT NULL DEFAULT '',
    encoder TEXT NOT NULL DEFAULT '',
    decoder TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    code_md5 TEXT NOT NULL DEFAULT '',
    metrics TEXT NOT NULL
);

CREATE INDEX zoo_models_task ON zoo_models (task);

CREATE TABLE knowledge_trees (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
