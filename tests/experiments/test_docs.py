"""docs/experiments.md's table of sends needed is what the code computes."""

from __future__ import annotations

import re

from nurture.experiments.stats import sends_needed
from tests.conftest import ROOT


def test_the_table_of_sends_needed_is_computed():
    text = (ROOT / "docs" / "experiments.md").read_text()
    rows = re.findall(r"^\| (\d+)% \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", text, re.M)
    assert [r[0] for r in rows] == ["2", "5", "10"]
    for baseline, *cells in rows:
        got = [sends_needed(int(baseline) / 100, d) for d in (0.01, 0.02, 0.05)]
        assert [int(c.replace(",", "")) for c in cells] == got
