"""The documentation site: the generated reference pages cover everything registered, and ``mkdocs build
--strict`` passes (a broken link or anchor fails it).

The generator runs here in-process; the builds run the real mkdocs of ``.venv-docs`` (``docs/venv.sh``; the
test command's bootstrap makes it) as a subprocess, whose hook runs the generator again with this interpreter.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import detectors
from rules.kinds import KINDS, DetectorKind, Param, registered
from watchdog.cli import build_parser
from watchdog.commands.policy import policy_json_schema

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = ROOT / ".venv-docs" / "bin" / "mkdocs"
MONITOR = ROOT / "contracts" / "src" / "ModelMonitor.sol"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return gen.generate()


def _section(page: str, heading_id: str) -> str:
    """The text from the heading with this explicit id to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) .*\{{#{re.escape(heading_id)}\}}$", page, re.M)
    assert match, f"no heading with id {heading_id!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(page, match.end())
    return page[match.end(): end.start() if end else len(page)]


def _commands(parser: argparse.ArgumentParser,
              words: tuple[str, ...] = ("watchdog",)) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield words, parser
    for name, sub, _help in gen.subcommands(parser):
        yield from _commands(sub, (*words, name))


# -- the generated pages ---------------------------------------------------------------------------------------

def test_the_generator_writes_the_four_reference_pages(pages: dict[str, str]) -> None:
    assert sorted(pages) == sorted(gen.PAGES)
    for path, text in pages.items():
        assert text.startswith("# "), path


def test_every_registered_kind_is_in_the_detector_reference_with_its_statistics_and_parameters(
        pages: dict[str, str]) -> None:
    page = pages["reference/detectors.md"]
    assert len(KINDS) >= 30
    for name, kind in KINDS.items():
        section = _section(page, gen.anchor(name))
        for stat, op in kind.statistics.items():
            assert f"| `{stat}` | `{op}` |" in section, (name, stat)
        for param in kind.params.values():
            assert f"**`{param.name}`**" in section, (name, param.name)
            if param.default is not None:
                assert f"default `{param.default!r}`" in section, (name, param.name)
    for name, cls in {**detectors.REGISTRY, **detectors.TIME_REGISTRY}.items():
        section = _section(page, gen.anchor(name))
        assert f"`{cls.__module__}.{cls.__name__}`" in section, name
    # the class's docstring is there: its numpydoc parameters with the signature's defaults, its doctest
    ks = _section(page, "ks")
    assert "- **`window`** (default `500`): Number of most recent values" in ks
    assert "```pycon\n>>> import numpy as np" in ks and "Change detected at index" in ks


def test_a_kind_registered_from_outside_is_in_the_detector_reference() -> None:
    spike = DetectorKind("spike_rate", "numeric", {"statistic": ">"}, {"window": Param("window", "int", 100, 2)},
                         doc="share of values above the reference's 99th percentile")
    with registered(spike):
        page = gen.detectors_page()
    section = _section(page, "spike-rate")
    assert "Share of values above the reference's 99th percentile." in section
    assert "- **`window`** (int, default `100`, at least 2)" in section
    assert "| [`spike_rate`](#spike-rate) | numeric | `statistic` | none registered |" in page


def test_a_policy_parameter_left_to_the_detector_says_what_the_detector_does(pages: dict[str, str]) -> None:
    page = pages["reference/detectors.md"]
    assert "- **`threshold`** (float, default: the detector's own, `0.2`)" in _section(page, "psi")
    assert "unset by default: the threshold of the rule that reads the detector" in _section(page, "mae")


def test_every_subcommand_and_option_is_in_the_cli_reference(pages: dict[str, str]) -> None:
    page = pages["reference/cli.md"]
    found = list(_commands(build_parser()))
    assert len(found) > 30  # nested subcommands included (versions propose, incident ack, ...)
    for words, parser in found:
        section = _section(page, gen.anchor(*words))
        assert parser.format_usage().split()[1:len(words) + 1] == list(words)
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings:
                assert f"`{flag}" in section, (words, flag)
    for words in (("watchdog", "unpause"), ("watchdog", "incident", "ack"), ("watchdog", "veto")):
        assert f"{' '.join(words)} {{#{gen.anchor(*words)}}}" in page


def test_every_key_of_the_policy_schema_is_in_the_policy_reference(pages: dict[str, str]) -> None:
    page = pages["reference/policy.md"]
    schema = policy_json_schema()
    for key in schema["properties"]:
        assert f"**`{key}`**" in _section(page, "policy"), key
    for name, node in schema["$defs"].items():
        section = _section(page, gen.anchor(name))
        for key in node.get("properties", {}):
            assert f"**`{key}`**" in section, (name, key)
    rule = _section(page, "rule")
    assert "**`for`** (integer or string; default `1`)" in rule
    assert "consecutive evaluations" in rule


def test_every_public_function_event_and_error_of_the_monitor_is_in_the_contract_reference(
        pages: dict[str, str]) -> None:
    page = pages["reference/contract.md"]
    source = MONITOR.read_text(encoding="utf-8")
    expected = {(kind, name) for kind, name, rest in re.findall(r"^\s*(function|event|error) (\w+)\(([^{;]*)",
                                                                 source, re.M)
                if kind != "function" or re.search(r"\b(external|public)\b", rest + _tail(source, name))}
    assert len(expected) > 80
    for kind, name in expected:
        section = _section(page, gen.anchor("ModelMonitor", kind, name))
        assert f"{kind} {name}(" in section, (kind, name)
    pause = _section(page, "modelmonitor-function-pause")
    assert "- `incidentId`: The incident id (non-zero, never used before)." in pause
    assert "[`QuorumRequired`](#modelmonitor-error-quorumrequired)" in _section(page, "modelmonitor")
    assert "_setRateLimit" not in page  # private: not part of the contract's surface


def _tail(source: str, name: str) -> str:
    """The declaration of function ``name`` up to its body (modifiers may sit on the following lines)."""
    start = source.index(f"function {name}(")
    return source[start:source.index("{", start)]


def test_natspec_parser_reads_tags_multiline_declarations_and_skips_private_members() -> None:
    source = '''
/// @title Tiny
/// @notice A tiny contract.
contract Tiny {
    /// @notice Paused or not.
    bool public paused;
    uint256 private secret;

    /**
     * @notice Pauses {Tiny}.
     *         Second line of the notice.
     * @param who The caller,
     *        on two lines.
     * @return ok Whether it worked.
     */
    function pause(address who)
        external
        returns (bool ok)
    {
        if (true) { ok = true; }
    }

    /// @dev Not shown.
    function _hidden() private {}

    /// @notice Emitted on pause.
    event Paused(address indexed by);

    struct Pair {
        uint8 a;
        uint8 b;
    }
}
'''
    items = {(it.category, it.name): it for it in gen.parse_natspec(source)}
    assert set(items) == {("contract", "Tiny"), ("variable", "paused"), ("function", "pause"),
                          ("event", "Paused"), ("struct", "Pair")}
    pause = items["function", "pause"]
    assert pause.declaration == "function pause(address who) external returns (bool ok)"
    assert pause.tags["notice"] == "Pauses {Tiny}.\nSecond line of the notice."
    assert pause.params == [("who", "The caller, on two lines.")]
    assert pause.returns == [("ok", "Whether it worked.")]
    assert items["variable", "paused"].declaration == "bool public paused"
    assert items["struct", "Pair"].declaration == "struct Pair {\n    uint8 a;\n    uint8 b;\n}"
    page = gen.contract_page([])
    assert page.startswith("# Contract reference")


def test_numpydoc_sections_become_markdown() -> None:
    doc = """Summary with ``code`` and :math:`x^2` and a * star, **strong** and *emphasis*.

Parameters
----------
window
    Number of values,
    over two lines.

Examples
--------
>>> 1 + 1
2

>>> print("a")
a

Prose between doctests.

>>> 3
3
"""
    md = "\n".join(gen.docstring_markdown(doc, {"window": "500"}))
    assert "Summary with `code` and `x^2` and a \\* star, **strong** and *emphasis*." in md
    assert "- **`window`** (default `500`): Number of values, over two lines." in md
    assert "```pycon\n>>> 1 + 1\n2\n\n>>> print(\"a\")\na\n```" in md
    assert "Prose between doctests.\n\n```pycon\n>>> 3\n3\n```" in md


# -- the hand-written pages name real commands and flags --------------------------------------------------------

HAND_WRITTEN = ("index.md", "runbook.md", "operations.md")


def _code_texts(markdown: str) -> list[str]:
    """The fenced blocks (continuation lines joined) and inline code spans of a page."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, re.S | re.M)
    rest = re.sub(r"^```[^\n]*\n.*?^```", "", markdown, flags=re.S | re.M)
    joined = [re.sub(r"\\\n\s*", " ", block) for block in blocks]
    lines = [re.split(r"\s#\s", line)[0] for block in joined for line in block.splitlines()]  # no comments
    return lines + re.findall(r"`([^`\n]+)`", rest)


def _invocations(markdown: str) -> list[list[str]]:
    found = []
    for text in _code_texts(markdown):
        for match in re.finditer(r"(?:^|[\s/])watchdog((?:\s+\S+)*)", text):
            found.append(match.group(1).split())
    return found


def _check_invocation(parser: argparse.ArgumentParser, tokens: list[str], where: str) -> None:
    words = ["watchdog"]
    options = {flag for a in parser._actions for flag in a.option_strings}
    while tokens and tokens[0].startswith("--") and tokens[0] in options:  # --log-format json before the command
        takes = next(a for a in parser._actions if tokens[0] in a.option_strings).nargs != 0
        tokens = tokens[2:] if takes else tokens[1:]
    while tokens:
        subs = {name: sub for name, sub, _help in gen.subcommands(parser)}
        if not subs:
            break
        names = tokens[0].split("|")
        if not all(n in subs for n in names):
            assert tokens[0].startswith(("-", "$", "<")) or tokens[0].isupper(), \
                f"{where}: `{' '.join(words)} {tokens[0]}` is not a subcommand; there are {', '.join(subs)}"
            break
        words.append(tokens.pop(0))
        parser = subs[names[0]]
    options = {flag for a in parser._actions for flag in a.option_strings}
    for token in tokens:
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", token):
            assert flag in options, f"{where}: `{' '.join(words)}` has no option {flag}"


def test_the_hand_written_pages_name_real_commands_and_flags() -> None:
    parser = build_parser()
    seen = 0
    for name in HAND_WRITTEN:
        page = (ROOT / "docs" / name).read_text(encoding="utf-8")
        for tokens in _invocations(page):
            _check_invocation(parser, tokens, name)
            seen += 1
    assert seen > 40


def test_a_stale_command_or_flag_in_a_page_is_found() -> None:
    parser = build_parser()
    with pytest.raises(AssertionError, match="has no option --by-whom"):
        _check_invocation(parser, _invocations("`watchdog veto $ID --by-whom x`")[0], "page")
    with pytest.raises(AssertionError, match="`watchdog modules unregister` is not a subcommand"):
        _check_invocation(parser, _invocations("```bash\nwatchdog modules unregister M \\\n  --x\n```\n")[0],
                          "page")
    _check_invocation(parser, _invocations("`watchdog --log-format json serve --policy P`")[0], "page")


# -- the site build -------------------------------------------------------------------------------------------

def _mkdocs() -> Path:
    if not MKDOCS.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{MKDOCS} is missing: scripts/bootstrap.sh --test runs docs/venv.sh, which makes it")
        pytest.skip(f"{MKDOCS} is missing; `bash docs/venv.sh` makes it")
    return MKDOCS


def _build(config: Path, site: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WATCHDOG_DOCS_PYTHON": python, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([str(_mkdocs()), "build", "--strict", "--config-file", str(config), "--site-dir",
                           str(site)], cwd=config.parent, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    done = _build(ROOT / "mkdocs.yml", out)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def _html(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_site_builds_strict_with_every_page(site: Path) -> None:
    for page in ("runbook", "operations", "ARCHITECTURE", "reference/cli", "reference/policy",
                 "reference/detectors", "reference/contract"):
        assert (site / page / "index.html").is_file(), page
    assert (site / "index.html").is_file()
    assert not list(site.rglob("*.py")) and not list(site.rglob("*.sh"))  # the tooling stays out of the site
    detectors_html = _html(site, "reference/detectors")
    for name in KINDS:
        assert f'id="{gen.anchor(name)}"' in detectors_html, name
    cli_html = _html(site, "reference/cli")
    for words, _parser in _commands(build_parser()):
        assert f'id="{gen.anchor(*words)}"' in cli_html, words
    runbook = _html(site, "runbook")
    for command in ("watchdog veto", "watchdog incident ack", "watchdog pause", "watchdog unpause",
                    "watchdog incident show", "watchdog outbox"):
        assert command in runbook, command
    assert 'href="../reference/cli/#watchdog-unpause"' in runbook


@pytest.mark.slow
def test_the_site_fetches_nothing_from_another_host(site: Path) -> None:
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in html and "fonts.gstatic.com" not in html, page
        external = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', html)
        assert not external, (page, external)


@pytest.mark.slow
def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    copy = tmp_path / "checkout"
    copy.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", copy / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "contracts").symlink_to(ROOT / "contracts")
    (copy / "docs" / "runbook.md").write_text(
        (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
        + "\nSee [the pager](pager.md) and [the CLI](reference/cli.md#watchdog-no-such-command).\n",
        encoding="utf-8")
    done = _build(copy / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "pager.md" in done.stderr and "watchdog-no-such-command" in done.stderr


def test_without_the_project_interpreter_the_build_stops_with_a_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "no-venv" / "bin" / "python"
    done = _build(ROOT / "mkdocs.yml", tmp_path / "site", python=str(missing))
    assert done.returncode != 0
    assert f"{missing} does not exist" in done.stderr and "WATCHDOG_DOCS_PYTHON" in done.stderr
