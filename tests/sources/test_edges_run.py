"""``watchdog run`` reads Parquet and CSV by suffix (was: as JSON Lines, every line quarantined, exit 0),
refuses a binary file of no known format with a sentence, and exits 4 with a warning when more than
``--max-quarantined-share`` of a source is quarantined."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from watchdog.cli import main
from watchdog.ingest.records import Quarantined

from .helpers import DEMO_LOG, DEMO_POLICY, engine, write_tables

FEATURES = {"utilization": pa.float64(), "collateral_ratio": pa.float64(), "volatility_7d": pa.float64(),
            "borrow_rate": pa.float64(), "asset_class": pa.string()}


def _run(tmp_path: Path, source: Path, *extra: str) -> int:
    return main(["run", "--policy", str(DEMO_POLICY), "--source", str(source), "--store", str(tmp_path / "wd.db"),
                 "--quarantine", str(tmp_path / "q.jsonl"), "--metrics-addr", "off", "--no-progress", *extra])


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tables")
    parser = engine().parser
    lines = [ln for ln in DEMO_LOG.read_bytes().split(b"\n")
             if ln.strip() and not isinstance(parser.parse(ln, 0), Quarantined)]
    return write_tables(lines, where, FEATURES)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_run_reads_a_table_by_its_suffix(tables: tuple[Path, Path], kind: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    source = tables[0] if kind == "parquet" else tables[1]
    assert _run(tmp_path, source, "--dry-run") == 0
    out = capsys.readouterr().out
    assert " 0 quarantined" in out, out
    assert "no rule fired" not in out  # the demo log drifts: the same verdict as its JSON Lines
    assert not (tmp_path / "q.jsonl").exists() or (tmp_path / "q.jsonl").stat().st_size == 0


def test_run_refuses_a_binary_file_of_no_known_format(tables: tuple[Path, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "records.bin"
    odd.write_bytes(tables[0].read_bytes())
    assert _run(tmp_path, odd) == 2
    err = capsys.readouterr().err
    assert "is a Parquet file, not JSON Lines" in err and ".parquet" in err
    assert not (tmp_path / "wd.db").exists()  # refused before anything started


def test_run_exits_4_when_most_of_the_source_is_quarantined(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    lines = DEMO_LOG.read_bytes().split(b"\n")[:200]
    bad = [orjson.dumps({"model": "nobody", "id": str(i)}) if i % 4 else ln for i, ln in enumerate(lines) if ln]
    src = tmp_path / "mostly_bad.jsonl"
    src.write_bytes(b"\n".join(bad) + b"\n")
    assert _run(tmp_path, src, "--dry-run") == 4
    err = capsys.readouterr().err
    assert "were quarantined, more than --max-quarantined-share 0.5" in err
    assert _run(tmp_path, src, "--dry-run", "--max-quarantined-share", "0.8") == 0


def test_the_share_is_a_number_from_0_to_1(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        _run(tmp_path, DEMO_LOG, "--max-quarantined-share", "1.5")
    assert e.value.code == 2
