-- Incidents with their evidence, the action outbox, the audit log.
CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        rule TEXT NOT NULL,
        tier TEXT NOT NULL,
        opened_at REAL NOT NULL,
        record_index INTEGER NOT NULL,
        policy_hash TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        evidence TEXT NOT NULL,
        evidence_hash TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'open'
    );
    CREATE INDEX incidents_model ON incidents(model, opened_at);
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL REFERENCES incidents(id),
        kind TEXT NOT NULL,
        module TEXT NOT NULL,
        status TEXT NOT NULL,
        tx_hash TEXT,
        block_number INTEGER,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (incident_id, kind)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        event TEXT NOT NULL,
        model TEXT,
        rule TEXT,
        incident_id TEXT,
        policy_hash TEXT,
        detail TEXT NOT NULL
    );
