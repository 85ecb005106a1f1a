-- The reference samples the detectors were built on (watchdog/checkpoint.py), stored once by the
-- SHA-256 digest of their JSON: a checkpoint names its models' references by digest instead of
-- carrying every row each time, and a policy reload builds changed detectors from them.
CREATE TABLE reference_samples (
    digest TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
-- The digests a checkpoint names (space-separated): samples no checkpoint names are deleted.
ALTER TABLE checkpoints ADD COLUMN reference_digests TEXT NOT NULL DEFAULT '';
