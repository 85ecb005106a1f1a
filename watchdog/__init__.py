"""The watchdog service: records, engine, store, chain client, metrics and CLI.

The import name ``watchdog`` is shared with the unrelated filesystem-events library of the same
name; install this project into its own virtual environment (see README).
"""

from __future__ import annotations

__version__ = "0.1.0"
