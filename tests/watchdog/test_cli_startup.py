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


def test_main_called_in_process_leaves_the_callers_signal_handling_alone():
    """``cli.main`` in a test's own process set SIGPIPE to the default: a later write to a socket the peer had
    closed then killed the whole test process (an xdist worker died in tests/runtime/test_http_limits.py). Only
    the program (``cli.run``, ``python -m watchdog``, the ``watchdog`` script) sets the process's signals."""
    import contextlib
    import io
    import signal
    from importlib import resources

    from watchdog.cli import main

    policy = str(resources.files("watchdog").joinpath("data", "demo_policy.yaml"))
    before = signal.getsignal(signal.SIGPIPE), signal.getsignal(signal.SIGTERM)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["check", policy]) == 0
    assert (signal.getsignal(signal.SIGPIPE), signal.getsignal(signal.SIGTERM)) == before


def test_the_program_ends_quietly_when_its_reader_goes_away():
    """``watchdog ... | head``: the program itself still takes SIGPIPE as a Unix tool does."""
    out = subprocess.run(f"{sys.executable} -m watchdog --help | head -c 10", shell=True, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
