import sys

from watchdog.cli import run

sys.exit(run())
