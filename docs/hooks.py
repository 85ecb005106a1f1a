"""mkdocs hooks (``hooks:`` in mkdocs.yml): the reference pages, generated on every build and serve.

mkdocs runs in a venv of its own (``.venv-docs``): it needs the filesystem-events ``watchdog`` package, which
would overwrite this project's ``watchdog`` in one environment. So this file imports nothing of the project;
it runs ``docs/gen_reference.py`` with the project's interpreter (``.venv/bin/python``, or the one named by
``WATCHDOG_DOCS_PYTHON``) and hands its pages to mkdocs as generated files: nothing is written into docs/, and
nothing generated is committed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "docs" / "gen_reference.py"
WATCHED = ("detectors", "rules", "watchdog/commands", "watchdog/cli.py", "contracts/src")
"""What the generated pages are made from: ``mkdocs serve`` rebuilds when one of them changes."""


def project_python() -> Path:
    named = os.environ.get("WATCHDOG_DOCS_PYTHON")
    python = Path(named) if named else ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        raise PluginError(
            f"the reference pages are generated with the project's Python, and {python} does not exist; "
            "run `bash scripts/bootstrap.sh` or set WATCHDOG_DOCS_PYTHON to an interpreter that imports watchdog"
        )
    return python


def generated_pages() -> dict[str, str]:
    python = project_python()
    done = subprocess.run([str(python), str(GENERATOR), "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    if done.returncode != 0:
        raise PluginError(f"{GENERATOR.name} failed (exit {done.returncode}) with {python}:\n{done.stderr.strip()}")
    try:
        pages = json.loads(done.stdout)
    except json.JSONDecodeError as e:
        raise PluginError(f"{GENERATOR.name} printed something other than JSON: {e}") from e
    if not isinstance(pages, dict):
        raise PluginError(f"{GENERATOR.name} printed {type(pages).__name__}, not a mapping of path to page")
    return {str(k): str(v) for k, v in pages.items()}


def on_files(files: Files, config: Any) -> Files:
    for src_uri, content in generated_pages().items():
        existing = files.get_file_from_path(src_uri)
        if existing is not None:  # a stale copy written by hand into docs/: the generated one wins
            files.remove(existing)
        files.append(File.generated(config, src_uri, content=content))
    return files


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    for rel in WATCHED:
        server.watch(str(ROOT / rel))
    return server
