"""Contract assurance, offline: Slither finds nothing at Low or above, and halmos proves the symbolic
properties of contracts/halmos/test/ModelMonitorProps.t.sol and shows each one failing on a copy of the
contract with a bug planted for it (so each property can really fail).

Neither tool finds a native solc here: contracts/bin/solc forwards to solc-js from contracts/node_modules and
is put first on PATH; forge (which halmos drives) is the npm package @foundry-rs/forge. Slither and halmos come
from PyPI (``slither-analyzer``, ``halmos``); without them the tests skip and say how to install them. halmos
sits in the project's venv; Slither 0.11 declares web3<8 while the service needs web3 8, so it lives in a venv
of its own, contracts/.venv-slither (or wherever ``$SLITHER`` points).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = REPO_ROOT / "contracts"
NODE_MODULES = CONTRACTS / "node_modules"
SOURCE = CONTRACTS / "src" / "ModelMonitor.sol"
HALMOS_PROJECT = CONTRACTS / "halmos"
HALMOS_LOOP = "4"
FORGE_PACKAGES = {
    ("Linux", "x86_64"): "forge-linux-amd64",
    ("Linux", "aarch64"): "forge-linux-arm64",
    ("Darwin", "x86_64"): "forge-darwin-amd64",
    ("Darwin", "arm64"): "forge-darwin-arm64",
}
SLITHER_VENV = CONTRACTS / ".venv-slither"
#: The detectors whose findings the source accepts, each with a reason beside it.
ACCEPTED = {"timestamp", "uninitialized-state"}


def _python_tool(name: str) -> Path | None:
    """A console script of this venv, else one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    return Path(found) if found else None


def _forge() -> Path | None:
    package = FORGE_PACKAGES.get((platform.system(), platform.machine()))
    candidates = [NODE_MODULES / "@foundry-rs" / package / "bin" / "forge"] if package else []
    candidates.append(NODE_MODULES / ".bin" / "forge")
    return next((p for p in candidates if p.is_file() and os.access(p, os.X_OK)), None)


def _env(*tool_dirs: Path) -> dict[str, str]:
    """The environment with contracts/bin (the solc shim) and the tools' folders first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(CONTRACTS / "bin"), *map(str, tool_dirs), env.get("PATH", "")])
    env.setdefault("NO_COLOR", "1")
    return env


@pytest.fixture(scope="module")
def solc_shim() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed, so contracts/bin/solc (a solc-js forwarder) cannot run")
    if not (NODE_MODULES / "solc").is_dir():
        pytest.skip("contracts/node_modules/solc is missing; run `cd contracts && npm ci`")
    return CONTRACTS / "bin" / "solc"


@pytest.fixture(scope="module")
def slither(solc_shim: Path) -> Path:
    override = os.environ.get("SLITHER")
    if override:
        return Path(override)
    in_venv = SLITHER_VENV / "bin" / "slither"
    tool = in_venv if in_venv.is_file() else _python_tool("slither")
    if tool is None:
        pytest.skip(
            "Slither is not installed. It declares web3<8 and the service needs web3 8, so give it a venv of "
            "its own: `python3 -m venv contracts/.venv-slither && contracts/.venv-slither/bin/pip install "
            "'slither-analyzer==0.11.*'` (or point $SLITHER at a slither executable)"
        )
    return tool


@pytest.fixture(scope="module")
def halmos(solc_shim: Path) -> tuple[Path, Path]:
    tool = _python_tool("halmos")
    if tool is None:
        pytest.skip("halmos is not installed: `.venv/bin/pip install 'halmos==0.3.*'`")
    forge = _forge()
    if forge is None:
        pytest.skip("forge is missing (npm package @foundry-rs/forge); run `cd contracts && npm ci`")
    return tool, forge


# ---------------------------------------------------------------------------------------------------
# The solc shim
# ---------------------------------------------------------------------------------------------------


def _shim(solc_shim: Path, *args: str, cwd: Path | None = None, stdin: str | None = None):
    return subprocess.run([solc_shim, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300,
                          check=False)


def test_solc_shim_forwards_to_solc_js(solc_shim: Path, tmp_path: Path) -> None:
    version = json.loads((NODE_MODULES / "solc" / "package.json").read_text())["version"]
    result = _shim(solc_shim, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(f"Version: {version}+commit."), result.stdout

    source = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract A { function f() external {} }\n"
    standard = json.dumps({
        "language": "Solidity",
        "sources": {"a.sol": {"content": source}},
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    })
    result = _shim(solc_shim, "--standard-json", stdin=standard)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["contracts"]["a.sol"]["A"]["abi"][0]["name"] == "f", result.stdout

    (tmp_path / "a.sol").write_text(source)
    result = _shim(solc_shim, "a.sol", "--combined-json", "abi,bin,hashes,ast", "--allow-paths", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    combined = json.loads(result.stdout)
    assert combined["contracts"]["a.sol:A"]["hashes"] == {"f()": "26121ff0"}
    assert combined["sourceList"] == ["a.sol"] and "AST" in combined["sources"]["a.sol"]
    # A compile error: diagnostics on stderr and exit 1, as native solc does.
    (tmp_path / "b.sol").write_text("contract {")
    bad = _shim(solc_shim, "b.sol", "--combined-json", "abi", cwd=tmp_path)
    assert bad.returncode == 1 and "ParserError" in bad.stderr, (bad.returncode, bad.stderr)
    # Imports never leave the allowed folders.
    (tmp_path / "c.sol").write_text('import "/etc/hostname";\n')
    escape = _shim(solc_shim, "c.sol", "--combined-json", "abi", cwd=tmp_path)
    assert escape.returncode == 1 and "outside the allowed paths" in escape.stderr, escape.stderr


# ---------------------------------------------------------------------------------------------------
# Slither
# ---------------------------------------------------------------------------------------------------


def _run_slither(slither: Path, root: Path) -> list[dict]:
    """Slither's Low-or-above findings on root/src/ModelMonitor.sol (OpenZeppelin filtered out)."""
    result = subprocess.run(
        [
            slither, "src/ModelMonitor.sol",
            "--compile-force-framework", "solc",
            "--solc-remaps", "@openzeppelin/=node_modules/@openzeppelin/",
            "--filter-paths", "node_modules",
            "--exclude-informational", "--exclude-optimization",
            "--json", "-",
        ],
        cwd=root, env=_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"Slither printed no JSON (exit {result.returncode}):\n{result.stderr[-4000:]}") from None
    assert report["success"], report.get("error") or result.stderr[-4000:]
    return (report.get("results") or {}).get("detectors", [])


def test_slither_finds_nothing_at_low_or_above(slither: Path) -> None:
    findings = _run_slither(slither, CONTRACTS)
    assert findings == [], "\n\n".join(f"[{f['impact']}] {f['check']}: {f['description']}" for f in findings)


def test_slither_suppressions_are_each_needed_and_explained(slither: Path, tmp_path: Path) -> None:
    """Every `slither-disable-next-line` names an accepted detector and gives its reason; with the comments
    stripped, Slither reports exactly those detectors on exactly those lines (so the run above could fail)."""
    lines = SOURCE.read_text().splitlines()
    suppressed: set[tuple[str, int]] = set()
    for number, line in enumerate(lines, start=1):
        if "slither-disable" not in line:
            continue
        match = re.fullmatch(r"\s*// slither-disable-next-line ([a-z-]+) \((.{20,})\)", line)
        assert match, f"line {number}: a suppression must be `// slither-disable-next-line DETECTOR (reason)`"
        assert match.group(1) in ACCEPTED, f"line {number}: {match.group(1)} is not an accepted detector"
        suppressed.add((match.group(1), number + 1))

    copy = tmp_path / "contracts"
    (copy / "src").mkdir(parents=True)
    (copy / "node_modules").symlink_to(NODE_MODULES)
    # Blank lines in place of the comments keep every line number.
    (copy / "src" / "ModelMonitor.sol").write_text(
        "\n".join("" if "slither-disable" in line else line for line in lines) + "\n"
    )
    found: set[tuple[str, int]] = set()
    for finding in _run_slither(slither, copy):
        check = finding["check"]
        assert check in ACCEPTED, finding["description"]
        for element in finding["elements"]:
            # timestamp flags expressions (nodes), uninitialized-state the variable's declaration.
            if element["type"] == "node" or (check == "uninitialized-state" and element["type"] == "variable"):
                found.add((check, element["source_mapping"]["lines"][0]))
    assert suppressed - found == set(), "suppressions above lines Slither does not flag"
    assert found - suppressed == set(), "findings without a suppression"


# ---------------------------------------------------------------------------------------------------
# halmos
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """A bug planted in a copy of ModelMonitor.sol, and the property that must catch it."""

    name: str
    prop: str
    find: str
    replace: str


MUTANTS = [
    Mutant("quorum counts one vote too many", "check_noPauseWithFewerThanQuorumOperators",
           "if (count < cfg.quorum) return false;", "if (count + 1 < cfg.quorum) return false;"),
    Mutant("a pause lasts through its expiry second", "check_pauseEndsAtItsExpiryUnlessExtended",
           "return m.paused && (until == 0 || block.timestamp < until);",
           "return m.paused && (until == 0 || block.timestamp <= until);"),
    Mutant("a used incident id is not refused", "check_incidentIdIsUsedOnce",
           "if (rec.used) revert IncidentAlreadyUsed(incidentId);", ""),
    Mutant("the rate limit frees a second early", "check_rateLimitHolds",
           "if (freeAt > nowTs) revert RateLimited(module, freeAt);",
           "if (freeAt > nowTs + 1) revert RateLimited(module, freeAt);"),
    Mutant("a rollback may land on a never-active version", "check_rollbackOnlyToApprovedEarlierActive",
           "if (!v.wasActive) revert VersionNeverActive(module, toVersion);", ""),
]
PROPERTIES = sorted({m.prop for m in MUTANTS})


def _halmos_project(root: Path, mutant: Mutant | None) -> Path:
    """A copy of contracts/halmos (foundry.toml, the properties, src) under ``root``, the bug planted."""
    root.mkdir(parents=True)
    shutil.copy(HALMOS_PROJECT / "foundry.toml", root / "foundry.toml")
    shutil.copytree(HALMOS_PROJECT / "test", root / "test")
    shutil.copytree(CONTRACTS / "src", root / "src")
    (root / "node_modules").symlink_to(NODE_MODULES)
    (root / "bin").symlink_to(CONTRACTS / "bin")
    if mutant is not None:
        path = root / "src" / "ModelMonitor.sol"
        text = path.read_text()
        assert text.count(mutant.find) == 1, f"mutant {mutant.name!r}: its line is no longer in ModelMonitor.sol"
        path.write_text(text.replace(mutant.find, mutant.replace))
    return root


def _run_halmos(halmos: Path, forge: Path, project: Path, *extra: str) -> tuple[dict[str, dict], str]:
    """Run halmos in ``project``; return its results by test name (without the argument list) and its output."""
    out = project / "halmos.json"
    result = subprocess.run(
        [halmos, "--loop", HALMOS_LOOP, "--json-output", str(out), *extra],
        cwd=project, env=_env(forge.parent), capture_output=True, text=True, timeout=1200, check=False,
    )
    log = result.stdout[-6000:] + result.stderr[-3000:]
    if not out.is_file():
        raise AssertionError(f"halmos wrote no results (exit {result.returncode}):\n{log}")
    report = json.loads(out.read_text())
    tests = {}
    for entries in report.get("test_results", {}).values():
        for entry in entries:
            tests[entry["name"].split("(")[0]] = entry
    return tests, log


@pytest.fixture(scope="module")
def halmos_runs(halmos: tuple[Path, Path]) -> Iterator[dict[str, tuple[dict[str, dict], str]]]:
    """halmos on the contract as it is (every property) and on each mutant (its property), two at a time."""
    tool, forge = halmos
    with tempfile.TemporaryDirectory(prefix="halmos-") as tmp:
        jobs = {"original": (None, ())}
        for mutant in MUTANTS:
            jobs[mutant.name] = (mutant, ("--function", mutant.prop, "--early-exit"))

        def run(item):
            name, (mutant, extra) = item
            project = _halmos_project(Path(tmp) / re.sub(r"\W+", "-", name), mutant)
            return name, _run_halmos(tool, forge, project, *extra)

        with ThreadPoolExecutor(max_workers=2) as pool:
            yield dict(pool.map(run, jobs.items()))


@pytest.mark.parametrize("prop", PROPERTIES)
def test_halmos_proves_the_property(halmos_runs, prop: str) -> None:
    tests, log = halmos_runs["original"]
    assert prop in tests, f"halmos did not run {prop}:\n{log}"
    entry = tests[prop]
    assert entry["exitcode"] == 0 and entry["num_models"] == 0, f"{prop} does not hold:\n{log}"
    assert entry["num_bounded_loops"] == 0, f"{prop}: loops hit the unrolling bound {HALMOS_LOOP}:\n{log}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_halmos_property_fails_on_a_planted_bug(halmos_runs, mutant: Mutant) -> None:
    tests, log = halmos_runs[mutant.name]
    assert mutant.prop in tests, f"halmos did not run {mutant.prop} on the mutant:\n{log}"
    entry = tests[mutant.prop]
    # exit code 1 with a model: a counterexample, not an error of the tool.
    assert entry["exitcode"] == 1 and entry["num_models"] >= 1, f"{mutant.prop} missed the bug:\n{log}"
    assert "Counterexample" in log
