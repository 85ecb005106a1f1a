-- Restart without forgetting: the engine's state and each source's position, written in one
-- transaction (watchdog/checkpoint.py), and the scheduler's job runs (watchdog/scheduler.py).
-- "instance" names one running watchdog ("default" unless --instance says otherwise), so replicas
-- that share a PostgreSQL store keep their own checkpoints.
CREATE TABLE checkpoints (
    instance TEXT PRIMARY KEY,
    policy_hash TEXT NOT NULL,
    taken_at REAL NOT NULL,
    records BIGINT NOT NULL,
    state TEXT NOT NULL
);
-- position: the source's JSON position (watchdog/sources/base.py Position.to_json).
CREATE TABLE source_offsets (
    instance TEXT NOT NULL,
    source TEXT NOT NULL,
    position TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (instance, source)
);
-- One row per scheduled job: when it last ran, with what outcome, and when it runs next.
CREATE TABLE job_runs (
    job_id TEXT PRIMARY KEY,
    last_run REAL,
    next_run REAL,
    outcome TEXT,
    error TEXT,
    runs BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0
);
