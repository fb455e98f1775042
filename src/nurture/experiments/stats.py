"""The statistics of an experiment (docs/experiments.md#the-test): a variant against the
control as two proportions (successes per send).

- the difference (variant minus control) with a Wald interval at the step's confidence
  level, on the unpooled standard error (each arm its own variance: the interval is about the
  difference, not under the hypothesis that there is none);
- a two-sided p-value from the pooled two-proportion z-test (under H0 both arms share one
  rate), the same as R's ``prop.test(c(x1, x2), c(n1, n2), correct = FALSE)``;
- the sends per variant a difference of a given size needs (the closed form R's
  ``power.prop.test`` solves).

Only the standard library (statistics.NormalDist): no scipy for three formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Arm:
    """One variant's numbers: sends and successes (human clicks or opens) among them."""

    variant: str
    sends: int
    successes: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.sends if self.sends else None


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant against the control. All None when either arm has no sends."""

    difference: float | None  # variant rate minus control rate
    low: float | None  # the interval at ``confidence``
    high: float | None
    p_value: float | None
    confidence: float

    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < 1 - self.confidence


def _z(confidence: float) -> float:
    return NORMAL.inv_cdf(1 - (1 - confidence) / 2)


def compare(control: Arm, variant: Arm, confidence: float = 0.95) -> Comparison:
    if not (0.5 < confidence < 1):
        raise ValueError(f"confidence must be between 0.5 and 1, not {confidence}")
    if not control.sends or not variant.sends:
        return Comparison(None, None, None, None, confidence)
    for arm in (control, variant):
        if not 0 <= arm.successes <= arm.sends:
            raise ValueError(f"{arm.variant}: {arm.successes} successes in {arm.sends} sends")
    n1, n2 = control.sends, variant.sends
    p1, p2 = control.successes / n1, variant.successes / n2
    difference = p2 - p1
    half = _z(confidence) * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    pooled = (control.successes + variant.successes) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    # Pooled rate 0 or 1: both arms 0 % (or both 100 %), no evidence of any difference.
    p_value = 1.0 if se0 == 0 else 2 * NORMAL.cdf(-abs(difference) / se0)
    return Comparison(difference, difference - half, difference + half, p_value, confidence)


def sends_needed(
    baseline: float, difference: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Sends per variant for a two-sided test at ``alpha`` to detect a change of the rate
    from ``baseline`` to ``baseline + difference`` with probability ``power``:
    n = (z(1-a/2) sqrt(2 p q) + z(power) sqrt(p1 q1 + p2 q2))^2 / d^2, p the mean rate."""
    target = baseline + difference
    if not (0 < baseline < 1 and 0 < target < 1 and difference != 0):
        raise ValueError(f"no test for a rate from {baseline} to {target}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power are between 0 and 1")
    mean = (baseline + target) / 2
    a = NORMAL.inv_cdf(1 - alpha / 2) * math.sqrt(2 * mean * (1 - mean))
    b = NORMAL.inv_cdf(power) * math.sqrt(baseline * (1 - baseline) + target * (1 - target))
    return math.ceil((a + b) ** 2 / difference**2)
