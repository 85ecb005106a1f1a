-- The transaction outbox beside the actions table (which keeps each action's status, hash and block).
-- outbox: the intent of an on-chain action, written before anything is signed.
-- outbox_attempts: every signed transaction for an action (a replacement has the same nonce, a higher fee),
-- saved with its raw bytes BEFORE it is broadcast, so a restart re-sends the same bytes, never re-signs.
CREATE TABLE outbox (
    action_id INTEGER PRIMARY KEY REFERENCES actions(id),
    incident_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    module TEXT NOT NULL,
    module_id TEXT NOT NULL,
    evidence_hash TEXT NOT NULL,
    target_version INTEGER,
    not_before REAL NOT NULL,
    intent_at REAL NOT NULL,
    gas BIGINT,
    sent_block INTEGER,
    stuck_alerted INTEGER NOT NULL DEFAULT 0,
    vetoed_by TEXT,
    veto_reason TEXT
);
CREATE TABLE outbox_attempts (
    action_id INTEGER NOT NULL REFERENCES outbox(action_id),
    attempt INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    raw_tx TEXT NOT NULL,
    nonce BIGINT NOT NULL,
    max_fee BIGINT,
    priority_fee BIGINT,
    gas_price BIGINT,
    signed_at REAL NOT NULL,
    PRIMARY KEY (action_id, attempt)
);
CREATE INDEX outbox_attempts_hash ON outbox_attempts(tx_hash);
