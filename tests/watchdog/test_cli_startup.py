"""``watchdog --help`` and building the parser import none of the heavy libraries (issue #16, item 7: 2.7 s).

The subcommands import what they need when they run; the parser of every subcommand is built at each start, so
an import at the top of a command module is paid by every command, ``--help`` included."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("scipy", "pyarrow", "web3", "detectors", "fastapi", "uvicorn", "pandas", "sklearn")


def test_help_imports_no_heavy_library():
    code = ("import sys, contextlib, io\n"
            "from watchdog.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            "        main(['--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout
