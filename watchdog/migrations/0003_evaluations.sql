-- What the detectors said at every evaluation, for the weekly report (watchdog/report/).
-- One row per evaluation of a model: data time, decisive line, policy in force, model versions in the
-- batch, and the counts since the previous evaluation of the run (predictions, late labels joined and
-- unmatched, records quarantined in the whole source with their reasons as a JSON object); totals holds
-- the engine's running totals as JSON, so an engine resumed from a checkpoint counts on from the last row.
-- A replay of the same log writes the same keys, so it adds nothing.
CREATE TABLE evaluations (
    model TEXT NOT NULL,
    at REAL NOT NULL,
    line BIGINT NOT NULL,
    policy_hash TEXT NOT NULL,
    versions TEXT NOT NULL,
    predictions BIGINT NOT NULL,
    labels BIGINT NOT NULL,
    labels_unmatched BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    quarantine_reasons TEXT NOT NULL,
    totals TEXT NOT NULL,
    PRIMARY KEY (model, at, line, policy_hash)
);
-- One row per detector statistic per evaluation; value is NULL when not finite; thresholds is a JSON
-- list of the rules on that statistic ({rule, op, threshold, min_samples}) or NULL when none.
CREATE TABLE evaluation_stats (
    model TEXT NOT NULL,
    at REAL NOT NULL,
    line BIGINT NOT NULL,
    policy_hash TEXT NOT NULL,
    detector TEXT NOT NULL,
    kind TEXT NOT NULL,
    feature TEXT,
    statistic TEXT NOT NULL,
    value REAL,
    thresholds TEXT,
    n BIGINT NOT NULL,
    PRIMARY KEY (model, at, line, policy_hash, detector, statistic)
);
CREATE INDEX evaluation_stats_model_at ON evaluation_stats(model, at);
