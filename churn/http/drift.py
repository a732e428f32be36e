"""The model's inputs watched against its training data: live customers counted per bin of the
reference (churn.core.reference), in the instance's shared counters, and compared with it over a
rolling window by the population stability index.

The window is the last hour. Every 5 minutes (an epoch) the first process to notice writes the
instance's totals into a ring of snapshots, in shared memory too; the window's counts are the totals
now less the oldest snapshot of the last hour (or all counts, while the instance is younger). No
verdict is given on fewer than MINIMUM_CUSTOMERS customers in the window. Standard library only.
"""

import bisect
import math
import mmap
import operator
import time

from churn.core.reference import psi, status

WINDOW_SECONDS = 3600
EPOCH_SECONDS = 300
MINIMUM_CUSTOMERS = 200
SCORE = "score"
_RING = WINDOW_SECONDS // EPOCH_SECONDS + 1


def bin_labels(feature):
    """What each bin of a reference feature is, for people and labels: a value, or a range's bound."""
    if "values" in feature:
        return [str(value) for value in feature["values"]]
    return [f"<={edge:g}" for edge in feature["edges"]] + [f">{feature['edges'][-1]:g}" if feature["edges"] else "all"]


class Bins:
    """Where each feature's bins, and the score's, are in a row of the metrics' table; and this
    process's counts of them since it last wrote them there.

    A process counts customers in a dict of its own, by their categorical values and numeric bins
    (a few hundred keys at most), and adds them to its row once a second (flush): a fifth of the
    time of adding each customer's 19 bins to shared memory. A worker that is killed loses at most
    its last second of these counts, which a PSI over an hour does not feel."""

    def __init__(self, reference, first_index):
        self.reference = reference
        self.features = {**reference["features"], SCORE: reference["score"]}
        self.at_first = first_index
        self.at, position = {}, first_index
        for name, feature in self.features.items():
            self.at[name] = position
            position += len(feature["shares"])
        self.end = position
        categorical = [name for name, feature in reference["features"].items() if "values" in feature]
        numerical = [name for name, feature in reference["features"].items() if "values" not in feature]
        self._categorical_of = operator.itemgetter(*categorical)
        self._numbers_of = operator.itemgetter(*numerical)
        self._edges = [self.features[name]["edges"] for name in numerical]
        self._positions = [
            {value: self.at[name] + i for i, value in enumerate(self.features[name]["values"])} for name in categorical
        ]
        self._numerical_at = [self.at[name] for name in numerical]
        self._score_at, self._score_edges = self.at[SCORE], reference["score"]["edges"]
        self._inputs, self._scores = {}, [0] * len(reference["score"]["shares"])

    def names(self):
        """The table's names of the bins, in order."""
        return [("bin", name, i) for name, feature in self.features.items() for i in range(len(feature["shares"]))]

    def count_inputs(self, customer):
        """Count a validated customer's fields in their bins (in this process, until flush)."""
        key = (self._categorical_of(customer), tuple(map(bisect.bisect_left, self._edges, self._numbers_of(customer))))
        self._inputs[key] = self._inputs.get(key, 0) + 1

    def count_score(self, probability):
        """Count a churn probability in its bin (in this process, until flush)."""
        self._scores[bisect.bisect_left(self._score_edges, probability)] += 1

    def flush(self, values, row):
        """Add this process's counts to its row of the table, and start again from none."""
        inputs, self._inputs = self._inputs, {}  # swapped first: a thread may be counting meanwhile
        scores, self._scores = self._scores, [0] * len(self._scores)
        for (categorical, numeric_bins), count in inputs.items():
            for positions, value in zip(self._positions, categorical, strict=True):
                values[row + positions[value]] += count
            for at, index in zip(self._numerical_at, numeric_bins, strict=True):
                values[row + at + index] += count
        for index, count in enumerate(scores):
            if count:
                values[row + self._score_at + index] += count


class Window:
    """The ring of snapshots of the bins' totals, one an epoch, shared by the instance's processes."""

    def __init__(self, width):
        self.width = width
        self._memory = mmap.mmap(-1, _RING * (width + 1) * 8)
        self._values = memoryview(self._memory).cast("d")  # per ring row: its epoch + 1 (0: none), then totals
        self.note([0.0] * width)  # the instance starts from nothing counted

    def note(self, totals, now=None):
        """Keep the totals as this epoch's snapshot, unless it has one."""
        epoch = int((time.time() if now is None else now) // EPOCH_SECONDS)
        start = (epoch % _RING) * (self.width + 1)
        if self._values[start] != epoch + 1:
            for index, total in enumerate(totals):
                self._values[start + 1 + index] = total
            self._values[start] = epoch + 1

    def counts(self, totals, now=None):
        """The window's counts: totals less the oldest snapshot of the last hour (none: all of them)."""
        epoch = int((time.time() if now is None else now) // EPOCH_SECONDS)
        oldest = None
        for ring in range(_RING):
            start = ring * (self.width + 1)
            noted = self._values[start] - 1
            if epoch - noted < _RING - 1 and noted >= 0 and (oldest is None or noted < oldest[0]):
                oldest = (noted, start)
        if oldest is None:
            return list(totals)
        start = oldest[1] + 1
        return [total - self._values[start + index] for index, total in enumerate(totals)]


def monitoring(bins, counts):
    """Each feature's PSI and status with its live and reference shares per bin, worst first, and the
    score's; `counts` are the window's counts of every bin, in the order of bins.names()."""
    features, offset = [], 0
    for name, feature in bins.features.items():
        live = counts[offset : offset + len(feature["shares"])]
        offset += len(feature["shares"])
        customers = int(math.fsum(live))
        index = psi(feature["shares"], live) if customers >= MINIMUM_CUSTOMERS else None
        features.append({
            "feature": name, "psi": index, "status": status(index), "customers": customers,
            "bins": _bins(feature, live),
        })  # fmt: skip
    score = next(feature for feature in features if feature["feature"] == SCORE)
    inputs = sorted((f for f in features if f["feature"] != SCORE), key=lambda f: -(f["psi"] or 0))
    return {"features": inputs, "score": score}


def _bins(feature, live):
    total = math.fsum(live) or 1
    return [
        {"bin": label, "reference": reference, "live": count / total}
        for label, reference, count in zip(bin_labels(feature), feature["shares"], live, strict=True)
    ]
