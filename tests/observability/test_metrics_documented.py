"""Every metric the code defines is listed in the README's metrics table (an Info metric as ``NAME_info``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_metric_is_in_the_readme() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "watchdog").rglob("*.py"))
    # the names given to a metric's constructor or a collector's family (a cookie or a JSON key may also start so)
    made = r'(?:Counter|Gauge|Histogram|Summary|Info|Enum|MetricFamily)\(\s*"(watchdog_[a-z0-9_]+)"'
    names = set(re.findall(made, code))
    assert len(names) > 20  # the scan found the metrics module
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"`(watchdog_[a-z0-9_]+)[{`]", readme))
    missing = sorted(n for n in names if n not in listed and f"{n}_info" not in listed)
    assert missing == [], f"metrics missing from the README's table: {missing}"
