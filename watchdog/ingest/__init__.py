"""Ingest: where records come from (sources yield raw batches and know nothing of the engine) and the one owner
of their validation (lines and tables alike: the same reason codes, precedence and sentences)."""
