"""The test of two proportions and the sample size, against R's numbers and edge cases."""

from __future__ import annotations

import math

import pytest

from nurture.experiments.stats import Arm, compare, sends_needed


def chi_square_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Pearson's chi-square of the 2x2 table without continuity correction (what R's
    prop.test(correct = FALSE) computes), by the table's expected counts: another road to
    the same p-value than the pooled z of the code under test."""
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    rows, cols, total = [n1, n2], [x1 + x2, n1 + n2 - x1 - x2], n1 + n2
    stat = sum(
        (table[i][j] - rows[i] * cols[j] / total) ** 2 / (rows[i] * cols[j] / total)
        for i in range(2)
        for j in range(2)
    )
    return math.erfc(math.sqrt(stat / 2))  # chi-square with one degree of freedom


def test_matches_r_prop_test():
    # R: prop.test(c(15, 30), c(100, 100), correct = FALSE)
    #    X-squared = 6.4516, p-value = 0.01109
    #    95 percent CI of p1 - p2: -0.26386362 -0.03613638
    c = compare(Arm("a", 100, 15), Arm("b", 100, 30))
    assert c.difference == pytest.approx(0.15)
    assert c.p_value == pytest.approx(0.01109, abs=5e-6)
    assert (c.low, c.high) == pytest.approx((0.03613638, 0.26386362), abs=1e-8)
    assert c.significant()
    assert not compare(Arm("a", 100, 15), Arm("b", 100, 30), confidence=0.99).significant()


@pytest.mark.parametrize(
    "x1,n1,x2,n2", [(12, 480, 21, 510), (3, 50, 0, 40), (199, 200, 180, 200), (5, 7, 1, 9)]
)
def test_p_value_is_the_chi_square_of_the_table(x1, n1, x2, n2):
    assert compare(Arm("a", n1, x1), Arm("b", n2, x2)).p_value == pytest.approx(
        chi_square_p(x1, n1, x2, n2), rel=1e-9
    )


def test_the_interval_widens_with_the_confidence():
    a, b = Arm("a", 400, 20), Arm("b", 400, 34)
    c90, c99 = compare(a, b, 0.90), compare(a, b, 0.99)
    assert c99.low < c90.low < c90.difference < c90.high < c99.high
    assert c90.p_value == c99.p_value  # the level changes the interval, not the test


def test_no_sends_no_numbers():
    for control, variant in ((Arm("a", 0, 0), Arm("b", 10, 2)), (Arm("a", 10, 2), Arm("b", 0, 0))):
        c = compare(control, variant)
        assert (c.difference, c.low, c.high, c.p_value) == (None, None, None, None)
        assert not c.significant()
    assert Arm("a", 0, 0).rate is None


@pytest.mark.parametrize("x", [0, 50])
def test_both_at_zero_or_both_at_all_is_no_difference(x):
    c = compare(Arm("a", 50, x), Arm("b", 50, x))
    assert c.difference == 0 and c.p_value == 1.0 and c.low == c.high == 0
    assert not c.significant()


def test_zero_against_all():
    c = compare(Arm("a", 20, 0), Arm("b", 20, 20))
    assert c.difference == 1 and c.p_value == pytest.approx(chi_square_p(0, 20, 20, 20))
    assert c.significant()


def test_impossible_counts_are_refused():
    with pytest.raises(ValueError):
        compare(Arm("a", 10, 11), Arm("b", 10, 1))
    with pytest.raises(ValueError):
        compare(Arm("a", 10, 1), Arm("b", 10, 1), confidence=1.0)


def test_sends_needed_matches_r_power_prop_test():
    # R: power.prop.test(p1 = .50, p2 = .75, power = .90)  =>  n = 76.7
    assert sends_needed(0.5, 0.25, power=0.9) == 77
    # 5 % -> 7 %, alpha .05, power .8: (1.95996 * sqrt(2 * .06 * .94)
    # + 0.84162 * sqrt(.05 * .95 + .07 * .93))^2 / .02^2 = 2212.2
    assert sends_needed(0.05, 0.02) == 2213
    # smaller differences need many more sends: quadratic in 1/d
    assert sends_needed(0.05, 0.01) > 3.5 * sends_needed(0.05, 0.02)
    assert sends_needed(0.05, -0.02) < sends_needed(0.05, 0.02)  # less variance below


def test_sends_needed_refuses_rates_outside_0_1():
    for baseline, difference in ((0.0, 0.1), (0.95, 0.1), (0.1, 0.0)):
        with pytest.raises(ValueError):
            sends_needed(baseline, difference)
