"""The store: SQLite by default, PostgreSQL when replicas share it; incidents, actions, the outbox, offsets,
checkpoints and the audit log, behind one small database layer with named migrations."""
