-- k-of-n pauses: what the outbox chose to send for a pause, and where the quorum stands.
-- method: the monitor's function signed for the action (pause, votePause, rollback), chosen when the intent is
-- signed (votePause when the module's on-chain quorum is above 1) and kept, so a restart re-sends the same call;
-- NULL until then (and for rows from before this migration: the action's kind).
-- quorum_note: for a vote, what the chain said of its incident ("1 of 2 votes", later "paused by ...").
ALTER TABLE outbox ADD COLUMN method TEXT;
ALTER TABLE outbox ADD COLUMN quorum_note TEXT;
