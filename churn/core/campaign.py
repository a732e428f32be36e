"""Campaigns by budget: which customers to contact, how many churners that should reach, and what a
campaign of that size reached on the model's test split. Standard library only: the service, the
page (through GET /model) and predict.py use it.

The test split is recorded by train.py in the artifact's metadata (TEST_SPLIT_KEY): each held-out
customer's predicted probability and whether they churned, in the split's order. A campaign that
contacts the riskiest `fraction` of a customer base is compared with the riskiest same fraction of the
test split: of those, how many churned (precision), and how many of its churners they were (recall).
"""

import functools
import heapq
import math
from dataclasses import dataclass

TEST_SPLIT_KEY = "test_split"


@dataclass(frozen=True)
class HeldOut:
    """The held-out customers' predicted probabilities and outcomes (1: churned), in the split's order."""

    probabilities: tuple
    churned: tuple

    @classmethod
    def of(cls, metadata):
        """The artifact metadata's test split, or None for a model without one (older, or a pickle);
        ValueError naming what is wrong with a malformed one."""
        split = metadata.get(TEST_SPLIT_KEY)
        if split is None:
            return None
        if not isinstance(split, dict) or not {"probabilities", "churned"} <= split.keys():
            raise ValueError(f"metadata.{TEST_SPLIT_KEY} must be an object of probabilities and churned")
        probabilities, churned = split["probabilities"], split["churned"]
        if not isinstance(probabilities, list) or not isinstance(churned, list) or len(probabilities) != len(churned):
            raise ValueError(f"metadata.{TEST_SPLIT_KEY}: probabilities and churned must be lists of one length")
        if not all(type(p) in (int, float) and 0 <= p <= 1 for p in probabilities):
            raise ValueError(f"metadata.{TEST_SPLIT_KEY}.probabilities must be numbers from 0 to 1")
        if not all(type(c) is int and c in (0, 1) for c in churned):
            raise ValueError(f"metadata.{TEST_SPLIT_KEY}.churned must be 0 or 1 each")
        return cls(tuple(probabilities), tuple(churned))

    @functools.cached_property
    def churned_by_rank(self):
        """Whether each customer churned, riskiest first (ties in the split's order), as "0"/"1" text;
        made once."""
        order = sorted(range(len(self.probabilities)), key=lambda at: -self.probabilities[at])
        return "".join("1" if self.churned[at] else "0" for at in order)


@dataclass(frozen=True)
class Reach:
    """What contacting some customers reached: how many were contacted, how many of them churned, of
    how many churners in all, against the churn rate of everyone (for the lift)."""

    contacted: int
    churners: int
    all_churners: int
    base_rate: float | None = None

    @property
    def precision(self):
        return self.churners / self.contacted if self.contacted else None

    @property
    def recall(self):
        return self.churners / self.all_churners if self.all_churners else None

    @property
    def lift(self):
        """Precision over the base rate: how many times likelier a contacted customer churns."""
        return self.precision / self.base_rate if self.contacted and self.base_rate else None


def at_top_fraction(churned_by_rank, fraction):
    """The Reach of the riskiest `fraction` (0 to 1) of a test split (HeldOut.churned_by_rank),
    rounded to whole customers, at least one when the fraction is above 0."""
    size = len(churned_by_rank)
    contacted = min(size, max(1 if fraction > 0 else 0, round(fraction * size)))
    return Reach(contacted, churned_by_rank[:contacted].count("1"), churned_by_rank.count("1"))


def riskiest(results, k, probability_of):
    """The `k` results of the highest probability (all, when k is None), riskiest first, ties in their
    order; holding at most k at once however many results there are."""
    numbered = ((probability_of(result), -at, result) for at, result in enumerate(results))
    if k is None:
        return [result for _, _, result in sorted(numbered, key=lambda item: item[:2], reverse=True)]
    return [result for _, _, result in heapq.nlargest(k, numbered, key=lambda item: item[:2])]


def worth_contacting(probability, cost, value):
    """Whether a customer's expected value kept (probability x value) covers the cost of the discount."""
    return probability * value >= cost


def expected_churners(probabilities):
    """How many of customers of these probabilities should churn: the sum of their probabilities."""
    return math.fsum(probabilities)
