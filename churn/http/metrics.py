"""What the service counts, and /metrics: the Prometheus text exposition format 0.0.4, standard
library only.

Every series has a fixed place in a row of a CounterTable (Layout), so that all of an instance's
workers count in the same shared table and any of them answers a scrape with the sums. The label
sets are bounded by what the app knows when it starts: its route templates (never a raw path), the
methods and statuses it answers ("other" for anything else), the model's fields. No label or value
holds anything a client sent.
"""

import bisect
import itertools
import math
import os
import time

from churn.core.prediction import DECISION, PROBABILITY
from churn.http.counters import CounterTable
from churn.http.drift import MINIMUM_CUSTOMERS, WINDOW_SECONDS, Bins, Window, bin_labels, monitoring

EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = ("GET", "HEAD", "POST")
STATUSES = (200, 304, 400, 401, 404, 405, 408, 413, 415, 422, 500, 503)
OTHER = "other"
PROBABILITY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
INTERFACES = ("json", "file", "v2")  # POST /predict with JSON, with a file (CSV, JSON lines); V2 infer
UNMATCHED = "unmatched"  # the route of a request that matched none: 404, 405, or 401 before either
_PROCESS_REFRESH_SECONDS = 1.0
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# A row of the table per worker slot: enough for 32 workers and as many again while SIGHUP replaces
# them (it starts the new workers before the old ones are gone). About 1 MiB in all.
SLOTS = 64


class Layout:
    """The index of every counter in a row: requests by (route, method, status), and each route's
    duration histogram (its bucket counts, its sum), the requests in flight, the requests shed. A
    route's requests and its histogram are blocks of their own, so that counting a request is a few
    offsets added, not a lookup of its labels."""

    def __init__(self, routes, fields, reference=None):
        self.routes = (*dict.fromkeys(routes), UNMATCHED)
        self.methods, self.statuses = (*METHODS, OTHER), (*STATUSES, OTHER)
        self.fields = (*fields, OTHER)
        names = [("in_flight",), ("shed",), ("cpu_seconds",), ("resident_bytes",), ("open_fds",)]
        names += [("scored", interface, churn) for interface in INTERFACES for churn in (True, False)]
        self.probabilities_at = len(names)
        names += [("probability_bucket", bound) for bound in (*PROBABILITY_BUCKETS, math.inf)]
        names += [("probability_sum",)]
        names += [("invalid", field) for field in self.fields]
        self.requests_at, self.durations_at = {}, {}
        for route in self.routes:
            self.requests_at[route] = len(names)
            names += [("requests", route, method, status) for method in self.methods for status in self.statuses]
            self.durations_at[route] = len(names)
            names += [("duration_bucket", route, bound) for bound in (*DURATION_BUCKETS, math.inf)]
            names.append(("duration_sum", route))
        self.bins = None if reference is None else Bins(reference, len(names))
        if self.bins is not None:
            names += self.bins.names()
        self.names = tuple(names)
        self.index = {name: position for position, name in enumerate(self.names)}
        self.method_offset = {method: i * len(self.statuses) for i, method in enumerate(self.methods)}
        self.status_offset = {status: i for i, status in enumerate(self.statuses)}
        # Zeroed when a worker is gone: what it held then is no longer held.
        self.gauges = tuple(self.index[(name,)] for name in ("in_flight", "resident_bytes", "open_fds"))

    @property
    def width(self):
        return len(self.names)


class Metrics:
    """The counts of one instance: made once, before the workers are forked, and shared by them."""

    def __init__(self, routes, fields, model_info=None, reference=None, slots=SLOTS):
        self.layout = layout = Layout(routes, fields, reference)
        self.table = CounterTable(layout.width, slots)
        self.bins = layout.bins
        self.window = None if self.bins is None else Window(self.bins.end - self.bins.at_first)
        self.model_info = dict(model_info or {})
        self.started_at = time.time()  # the instance's start: under gunicorn, the master's
        self._process = _ProcessUse()
        self._in_flight = layout.index[("in_flight",)]
        self._requests_at, self._durations_at = layout.requests_at, layout.durations_at
        self._method_offset, self._status_offset = layout.method_offset, layout.status_offset
        self._other_method, self._other_status = layout.method_offset[OTHER], layout.status_offset[OTHER]
        self._unmatched = (layout.requests_at[UNMATCHED], layout.durations_at[UNMATCHED])
        self._sum_offset = len(DURATION_BUCKETS) + 1
        self._counts = {interface: InterfaceCounts(self, interface) for interface in INTERFACES}

    def started(self):
        """A request has begun; returns what finished() takes: where this process counts."""
        row = self.table.row()
        self.table.values[row + self._in_flight] += 1
        return row

    def finished(self, row, route, method, status, seconds):
        """A request counted from `row` has ended with `status` after `seconds`; `route` is its template,
        or None."""
        values = self.table.values
        requests = self._requests_at.get(route)
        durations = self._durations_at.get(route) if requests is not None else None
        if requests is None:
            requests, durations = self._unmatched
        method = self._method_offset.get(method, self._other_method)
        values[row + requests + method + self._status_offset.get(status, self._other_status)] += 1
        values[row + durations + bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        values[row + durations + self._sum_offset] += seconds
        values[row + self._in_flight] -= 1

    def counts_for(self, interface):
        """What counts the customers of one request that came by `interface` (one of INTERFACES)."""
        return self._counts[interface]

    def shed(self):
        """A request was refused with 503: its worker was busy with other large requests."""
        self.table.add(self.layout.index[("shed",)])

    def refresh_process(self, force=False):
        """Write this process's CPU, memory and open files into its row, at most once a second; note
        the drift window's snapshot when an epoch begins."""
        if self._process.refresh(self.table, self.layout.index, force) and self.bins is not None:
            self.bins.flush(self.table.values, self.table.row())
            self.window.note(self._bin_totals())

    def _bin_totals(self):
        return self.table.totals()[self.bins.at_first : self.bins.end]

    def monitoring(self, totals=None):
        """The inputs and the score against the reference over the window (churn.http.drift), or None
        when the model has no reference; `totals`: the table's, when the caller has just summed it."""
        if self.bins is None:
            return None
        if totals is None:
            self.bins.flush(self.table.values, self.table.row())
            totals = self.table.totals()
        bin_totals = totals[self.bins.at_first : self.bins.end]
        self.window.note(bin_totals)
        return {"window_seconds": WINDOW_SECONDS, "minimum_customers": MINIMUM_CUSTOMERS,
                **monitoring(self.bins, self.window.counts(bin_totals))}  # fmt: skip

    def exposition(self):
        """Every series, summed over the instance's workers, as Prometheus reads them."""
        self._process.refresh(self.table, self.layout.index, force=True)
        if self.bins is not None:
            self.bins.flush(self.table.values, self.table.row())
        totals = self.table.totals()
        value = dict(zip(self.layout.names, totals, strict=True))
        lines = itertools.chain(
            _request_lines(self.layout, value),
            _customer_lines(self.layout, value),
            _model_lines(self.model_info),
            _process_lines(value, self.started_at),
            _drift_lines(self.bins, totals, self.monitoring(totals)),
        )
        return "".join(lines).encode("utf-8")


class _ProcessUse:
    """What this process has used, written into its row: CPU seconds as it adds up (a counter), its
    resident memory and open files as they are now (gauges). Linux tells memory and files; elsewhere
    they stay 0."""

    def __init__(self):
        self.pid, self.refreshed, self.cpu_counted = None, -math.inf, 0.0

    def refresh(self, table, index, force):
        """Refresh at most once a second (always, if `force`); say whether it did."""
        now = time.monotonic()
        if not force and now - self.refreshed < _PROCESS_REFRESH_SECONDS:
            return False
        if self.pid != os.getpid():  # a new worker: fork began its CPU time at 0
            self.pid, self.cpu_counted = os.getpid(), 0.0
        self.refreshed = now
        times = os.times()
        cpu = times.user + times.system
        values, row = table.values, table.row()
        values[row + index[("cpu_seconds",)]] += cpu - self.cpu_counted
        self.cpu_counted = cpu
        values[row + index[("resident_bytes",)]] = _resident_bytes()
        values[row + index[("open_fds",)]] = _open_fds()
        return True


def _resident_bytes():
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


def _open_fds():
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


class InterfaceCounts:
    """The customers a request scored, and those it refused, counted for its interface."""

    def __init__(self, metrics, interface):
        index = metrics.layout.index
        self._table = metrics.table
        self._decision = {churn: index[("scored", interface, churn)] for churn in (True, False)}
        self._probabilities = metrics.layout.probabilities_at
        self._probability_sum = index[("probability_sum",)]
        self._invalid = {field: index[("invalid", field)] for field in metrics.layout.fields}
        self._bins = metrics.bins

    def scored(self, probabilities, decisions):
        """Count customers scored with these probabilities and decisions (churn or not)."""
        values, row = self._table.values, self._table.row()
        for probability, churn in zip(probabilities, decisions, strict=True):
            if self._bins is not None:
                self._bins.count_score(probability)
            values[row + self._decision[churn]] += 1
            values[row + self._probabilities + bisect.bisect_left(PROBABILITY_BUCKETS, probability)] += 1
            values[row + self._probability_sum] += probability

    def scored_one(self, probability, churn):
        """Count one customer scored: the usual request's, without scored()'s loop."""
        values, row = self._table.values, self._table.row()
        if self._bins is not None:
            self._bins.count_score(probability)
        values[row + self._decision[churn]] += 1
        values[row + self._probabilities + bisect.bisect_left(PROBABILITY_BUCKETS, probability)] += 1
        values[row + self._probability_sum] += probability

    def scored_results(self, results):
        """Count the customers of these results (the prediction document's)."""
        self.scored([result[PROBABILITY] for result in results], [result[DECISION] for result in results])

    def inputs(self, customer):
        """Count a validated customer's fields in the reference's bins; return the customer."""
        if self._bins is not None:
            self._bins.count_inputs(customer)
        return customer

    def invalid(self, errors):
        """Count one refused customer's invalid fields (its errors: {"field", "message"})."""
        other = self._invalid[OTHER]
        for error in errors:
            self._table.add(self._invalid.get(error["field"], other))


class NotCounted:
    """InterfaceCounts when the metrics are off: counts nothing."""

    def scored(self, probabilities, decisions):
        pass

    def scored_one(self, probability, churn):
        pass

    def scored_results(self, results):
        pass

    def inputs(self, customer):
        return customer

    def invalid(self, errors):
        pass


NOT_COUNTED = NotCounted()


def _request_lines(layout, value):
    yield "# HELP churn_http_requests_total HTTP requests answered, by route template, method and status code.\n"
    yield "# TYPE churn_http_requests_total counter\n"
    for route, method, status in itertools.product(layout.routes, layout.methods, layout.statuses):
        count = value[("requests", route, method, status)]
        if count:
            yield f'churn_http_requests_total{{route="{route}",method="{method}",code="{status}"}} {_number(count)}\n'
    yield "# HELP churn_http_request_duration_seconds Time from a request's start to its answer's end.\n"
    yield "# TYPE churn_http_request_duration_seconds histogram\n"
    for route in layout.routes:
        cumulative = 0.0
        for bound in (*DURATION_BUCKETS, math.inf):
            cumulative += value[("duration_bucket", route, bound)]
            le = "+Inf" if bound == math.inf else repr(bound)
            yield f'churn_http_request_duration_seconds_bucket{{route="{route}",le="{le}"}} {_number(cumulative)}\n'
        yield f'churn_http_request_duration_seconds_sum{{route="{route}"}} {_number(value[("duration_sum", route)])}\n'
        yield f'churn_http_request_duration_seconds_count{{route="{route}"}} {_number(cumulative)}\n'
    yield "# HELP churn_http_requests_in_flight Requests being answered now.\n"
    yield "# TYPE churn_http_requests_in_flight gauge\n"
    yield f"churn_http_requests_in_flight {_number(value[('in_flight',)])}\n"
    yield "# HELP churn_http_requests_shed_total Requests refused with 503: the worker was busy with large ones.\n"
    yield "# TYPE churn_http_requests_shed_total counter\n"
    yield f"churn_http_requests_shed_total {_number(value[('shed',)])}\n"


def _customer_lines(layout, value):
    yield "# HELP churn_customers_scored_total Customers scored, by interface and decision.\n"
    yield "# TYPE churn_customers_scored_total counter\n"
    for interface in INTERFACES:
        for churn in (True, False):
            labels = f'interface="{interface}",churn="{str(churn).lower()}"'
            yield f"churn_customers_scored_total{{{labels}}} {_number(value[('scored', interface, churn)])}\n"
    yield "# HELP churn_prediction_probability Churn probabilities of the customers scored.\n"
    yield "# TYPE churn_prediction_probability histogram\n"
    cumulative = 0.0
    for bound in (*PROBABILITY_BUCKETS, math.inf):
        cumulative += value[("probability_bucket", bound)]
        le = "+Inf" if bound == math.inf else repr(bound)
        yield f'churn_prediction_probability_bucket{{le="{le}"}} {_number(cumulative)}\n'
    yield f"churn_prediction_probability_sum {_number(value[('probability_sum',)])}\n"
    yield f"churn_prediction_probability_count {_number(cumulative)}\n"
    yield "# HELP churn_invalid_customers_total Invalid fields of the customers refused, by field.\n"
    yield "# TYPE churn_invalid_customers_total counter\n"
    for field in layout.fields:
        count = value[("invalid", field)]
        if count:
            yield f'churn_invalid_customers_total{{field="{field}"}} {_number(count)}\n'


def _model_lines(info):
    yield "# HELP churn_model_info The model served: its name, version, training date and threshold.\n"
    yield "# TYPE churn_model_info gauge\n"
    labels = ",".join(f'{key}="{_label_value(value)}"' for key, value in info.items())
    yield f"churn_model_info{{{labels}}} 1\n"


def _label_value(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _process_lines(value, started_at):
    yield "# HELP process_cpu_seconds_total CPU seconds of every worker the instance has run, summed.\n"
    yield "# TYPE process_cpu_seconds_total counter\n"
    yield f"process_cpu_seconds_total {_number(value[('cpu_seconds',)])}\n"
    yield "# HELP process_resident_memory_bytes Resident memory of the instance's live workers, summed.\n"
    yield "# TYPE process_resident_memory_bytes gauge\n"
    yield f"process_resident_memory_bytes {_number(value[('resident_bytes',)])}\n"
    yield "# HELP process_open_fds Open file descriptors of the instance's live workers, summed.\n"
    yield "# TYPE process_open_fds gauge\n"
    yield f"process_open_fds {_number(value[('open_fds',)])}\n"
    yield "# HELP process_start_time_seconds When the instance started, in seconds since the epoch.\n"
    yield "# TYPE process_start_time_seconds gauge\n"
    yield f"process_start_time_seconds {_number(round(started_at, 3))}\n"


def _drift_lines(bins, totals, watched):
    """Each feature's (and the score's) customers per bin since the start, its reference shares, and
    its PSI over the window (absent until the window holds MINIMUM_CUSTOMERS customers)."""
    if bins is None:
        return
    yield "# HELP churn_feature_customers_total Customers scored, by field (and score) and reference bin.\n"
    yield "# TYPE churn_feature_customers_total counter\n"
    position = bins.at_first
    for name, feature in bins.features.items():
        for label in bin_labels(feature):
            yield f'churn_feature_customers_total{{feature="{name}",bin="{label}"}} {_number(totals[position])}\n'
            position += 1
    yield "# HELP churn_feature_reference_share Share of the reference (training data) in each bin.\n"
    yield "# TYPE churn_feature_reference_share gauge\n"
    for name, feature in bins.features.items():
        for label, share in zip(bin_labels(feature), feature["shares"], strict=True):
            yield f'churn_feature_reference_share{{feature="{name}",bin="{label}"}} {_number(share)}\n'
    yield "# HELP churn_feature_psi Population stability index of the last hour's customers against the reference.\n"
    yield "# TYPE churn_feature_psi gauge\n"
    for feature in [*watched["features"], watched["score"]]:
        if feature["psi"] is not None:
            yield f'churn_feature_psi{{feature="{feature["feature"]}"}} {_number(feature["psi"])}\n'


def _number(value):
    """A sample value as Prometheus writes it: whole numbers without a fraction."""
    return str(int(value)) if value.is_integer() else repr(value)
