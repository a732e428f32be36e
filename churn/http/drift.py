"""The model's inputs watched against its training data: live customers counted per bin of the
reference (churn.core.reference), in the instance's shared counters, and compared with it over a
rolling window by the population stability index.

The window is the last hour. Every 5 minutes (an epoch) the first process to notice writes the
instance's totals into a ring of snapshots, in shared memory too; the window's counts are the totals
now less the oldest snapshot of the last hour (or all counts, while the instance is younger). No
verdict is given on fewer than MINIMUM_CUSTOMERS customers in the window. Standard library only.
"""

import bisect
import itertools
import math
import mmap
import operator
import time

from churn.core.model import tuple_getter
from churn.core.reference import psi, status

WINDOW_SECONDS = 3600
EPOCH_SECONDS = 300
MINIMUM_CUSTOMERS = 200
BINNED_PER_SECOND = 1000  # by each process, before it samples
# The most customers of one request binned (a systematic sample of them): a tenth of the fewest a
# verdict needs, so that no single request, however large or extreme, moves a field past "watch".
BINNED_PER_REQUEST = MINIMUM_CUSTOMERS // 10
SCORE = "score"
_RING = WINDOW_SECONDS // EPOCH_SECONDS + 1


def bin_labels(feature):
    """What each bin of a reference feature is, for people and labels: a value, or a range's bound."""
    if "values" in feature:
        return [str(value) for value in feature["values"]]
    return [f"<={edge:g}" for edge in feature["edges"]] + [f">{feature['edges'][-1]:g}" if feature["edges"] else "all"]


class Bins:
    """Where each feature's bins, and the score's, are in a row of the metrics' table, and how a
    customer's row of values (churn.core.model: in the order of `row_fields`) and its score are binned:
    a categorical value by its position, a number by the reference's edges."""

    def __init__(self, reference, first_index, row_fields):
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
        self.categorical_of = tuple_getter([row_fields.index(name) for name in categorical])
        self.numbers_of = _numbers_getter(
            tuple_getter([row_fields.index(name) for name in numerical]),
            tuple(self.features[name].get("blank_as") for name in numerical),
        )
        self.positions = tuple({value: i for i, value in enumerate(reference["features"][name]["values"])}
                               for name in categorical)  # fmt: skip
        self.edges = tuple(self.features[name]["edges"] for name in numerical)
        # A customer's record: its categorical fields' bins, then its numbers'.
        self.columns = tuple((self.at[name], len(self.features[name]["shares"])) for name in categorical + numerical)
        self.score_at, self.score_edges = self.at[SCORE], reference["score"]["edges"]
        self.score_bins = len(reference["score"]["shares"])

    def names(self):
        """The table's names of the bins, in order."""
        return [("bin", name, i) for name, feature in self.features.items() for i in range(len(feature["shares"]))]


def _numbers_getter(getter, stand_ins):
    """A row's numbers in bin order, a blank (None) as the number training binned it as (its feature's
    "blank_as"); `getter` itself when no number may be blank."""
    if all(stand_in is None for stand_in in stand_ins):
        return getter
    return lambda row: tuple(s if v is None else v for v, s in zip(getter(row), stand_ins, strict=True))


class BinCounts:
    """One process's (or thread's) customers binned since it last added them to its row of the table.

    Binning a customer's 19 fields costs about 1.5 µs, a tenth of a /predict request. So a process bins
    every customer while it scores at most BINNED_PER_SECOND a second, and a systematic sample above
    that: one customer in `step` (`turns` says whose turn it is), chosen anew
    each second from the last second's rate, each binned customer counted `step` times. A PSI over an
    hour is measured as well on a thousand customers a second as on all of them.

    Each binned customer is kept a byte a field (a record), made in C; adding them to the row (flush,
    once a second) counts each field's column of bytes in C, where adding 19 bins to the table one by
    one cost five times as much. A worker that is killed loses at most its last second of these
    counts, which a PSI over an hour does not feel."""

    def __init__(self, bins, now):
        self.bins = bins
        self.step, self._flushed_at, self._added = 1, now, 0
        self.turns = itertools.repeat(True)
        self._categorical_of, self._numbers_of = bins.categorical_of, bins.numbers_of
        self._positions, self._edges = bins.positions, bins.edges
        self._score_edges = bins.score_edges
        self.inputs, self.scores = bytearray(), bytearray()  # a record per customer; a score's bin

    def sample(self, rows, probabilities):
        """Bin a request's scored customers (their rows and churn probabilities): at most
        BINNED_PER_REQUEST of them, evenly spaced, and of those the ones whose turn it is."""
        if len(rows) > BINNED_PER_REQUEST:
            stride = -(-len(rows) // BINNED_PER_REQUEST)
            rows, probabilities = rows[::stride], probabilities[::stride]
        for row, probability in itertools.compress(zip(rows, probabilities, strict=True), self.turns):
            self.count(row, probability)

    def count(self, row, probability):
        """Bin a scored customer's row and churn probability (until flush): one whose turn it is."""
        self.inputs.extend(map(operator.getitem, self._positions, self._categorical_of(row)))
        self.inputs.extend(map(bisect.bisect_left, self._edges, self._numbers_of(row)))
        self.scores.append(bisect.bisect_left(self._score_edges, probability))

    def add_to(self, row):
        """Add the customers binned since the last add to `row` (this process's row of the table), each
        `step` times."""
        if not self.scores:
            return
        width = len(self.bins.columns)
        for column, (at, bins) in enumerate(self.bins.columns):
            _add_counts(row, at, bins, self.inputs[column::width], self.step)
        _add_counts(row, self.bins.score_at, self.bins.score_bins, self.scores, self.step)
        self._added += len(self.scores) * self.step
        # Its own process (or thread) alone adds to them, and not while this runs: none is lost.
        self.inputs.clear()
        self.scores.clear()

    def flush(self, row, now):
        """add_to(row); and choose the step until the next flush from the rate of the customers added
        since the last (`now`: time.perf_counter())."""
        self.add_to(row)
        per_second = self._added / max(now - self._flushed_at, 1.0)
        self._added = 0
        self._flushed_at, step = now, max(1, math.ceil(per_second / BINNED_PER_SECOND))
        if step != self.step:
            self.step, self.turns = step, _one_in(step)


def _one_in(step):
    """True, then False step - 1 times, and again: whose turn it is to be binned."""
    return itertools.cycle((True, *(False,) * (step - 1)))


def _add_counts(row, at, bins, column, step):
    for index in range(bins):
        if count := column.count(index):
            row[at + index] += count * step


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
