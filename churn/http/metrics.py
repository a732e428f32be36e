"""What the service counts, and /metrics: the Prometheus text exposition format 0.0.4, standard
library only.

Every series has a fixed place in a row of a CounterTable (Layout), so that all of an instance's
workers count in the same shared table and any of them answers a scrape with the sums. The label
sets are bounded by what the app knows when it starts: its route templates (never a raw path), the
methods and statuses it answers ("other" for anything else), the model's fields. No label or value
holds anything a client sent.
"""

import bisect
import collections
import itertools
import math
import operator
import os
import threading
import time

from churn.http.counters import CounterTable
from churn.http.drift import MINIMUM_CUSTOMERS, WINDOW_SECONDS, BinCounts, Bins, Window, bin_labels, monitoring

EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = ("GET", "HEAD", "POST")
STATUSES = (200, 304, 400, 401, 404, 405, 408, 413, 415, 422, 500, 503)
OTHER = "other"
PROBABILITY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
INTERFACES = ("json", "file", "v2")  # POST /predict with JSON, with a file (CSV, JSON lines); V2 infer
UNMATCHED = "unmatched"  # the route of a request that matched none: 404, 405, or 401 before either
_FLUSH_SECONDS = 1.0
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# A row of the table per worker slot: enough for 128 workers (churn.http.config.MAX_WORKERS) and as
# many again while SIGHUP replaces them (it starts the new workers before the old ones are gone).
# About 4 MiB of address space, of which only the rows used are ever touched.
SLOTS = 256


class Layout:
    """The index of every counter in a row: requests by (route, method, status) and each route's
    duration histogram (its bucket counts, its sum); customers scored by (interface, decision,
    probability bucket), whose sums over one or the other are the customers by decision and the
    probability histogram; the requests begun, of which those not yet answered are in flight. So a
    request adds to four counters, and a customer to two."""

    def __init__(self, routes, fields, reference=None, row_fields=None):
        self.routes = (*dict.fromkeys(routes), UNMATCHED)
        self.methods, self.statuses = (*METHODS, OTHER), (*STATUSES, OTHER)
        self.fields = (*fields, OTHER)
        self.probability_bounds = bounds = (*PROBABILITY_BUCKETS, math.inf)
        names = [("begun",), ("shed",), ("cpu_seconds",), ("resident_bytes",), ("open_fds",)]
        self.scored_at = {}
        for interface in INTERFACES:
            self.scored_at[interface] = len(names)
            names += [("scored", interface, churn, bound) for churn in (False, True) for bound in bounds]
        names += [("probability_sum",)]
        names += [("invalid", field) for field in self.fields]
        self.durations_at = {}
        for route in self.routes:
            names += [("requests", route, method, status) for method in self.methods for status in self.statuses]
            self.durations_at[route] = len(names)
            names += [("duration_bucket", route, bound) for bound in (*DURATION_BUCKETS, math.inf)]
            names.append(("duration_sum", route))
        self.bins = None if reference is None else Bins(reference, len(names), row_fields)
        if self.bins is not None:
            names += self.bins.names()
        self.names = tuple(names)
        self.index = {name: position for position, name in enumerate(self.names)}
        self.requests = tuple(position for position, name in enumerate(names) if name[0] == "requests")
        # Zeroed when a worker is gone: what it held then is no longer held.
        self.gauges = tuple(self.index[(name,)] for name in ("resident_bytes", "open_fds"))

    def request_place(self, route, method, status):
        """(the counter of a route's requests of `method` answered with `status`, where its duration
        histogram starts); an unknown route, method or status counted as UNMATCHED or OTHER."""
        route = route if route in self.durations_at else UNMATCHED
        method = method if method in self.methods else OTHER
        status = status if status in self.statuses else OTHER
        return self.index[("requests", route, method, status)], self.durations_at[route]

    @property
    def width(self):
        return len(self.names)


class Metrics:
    """The counts of one instance: made once, before the workers are forked, and shared by them.
    Each process (or waitress thread) counts through a Recorder of its own."""

    def __init__(self, routes, fields, model_info=None, reference=None, row_fields=None, slots=SLOTS):
        self.layout = layout = Layout(routes, fields, reference, row_fields)
        self.table = CounterTable(layout.width, slots)
        self.bins = layout.bins
        self.window = None if self.bins is None else Window(self.bins.end - self.bins.at_first)
        self.model_info = dict(model_info or {})
        self.started_at = time.time()  # the instance's start: under gunicorn, the master's
        self.process = _ProcessUse(layout.index)
        self._local = threading.local()
        # Under waitress, threads of one process each count in a row of their own; a thread may wait
        # long for its next request, so each adds the customers it binned as it ends a request,
        # not once a second: they reach the shared table at once.
        self.threads_share_a_process = False

    def use_slot(self, slot):
        """Count this process's requests in row `slot` of the table from now on (a gunicorn worker, just
        forked: its gevent greenlets share the row)."""
        self.table.use_slot(slot)
        self._local = _ProcessWide()

    def claim_slot(self):
        """The row of the table for a worker about to be forked (gunicorn's master: pre_fork)."""
        return self.table.claim_slot()

    def worker_gone(self, slot):
        """What a gone worker (of row `slot`) held is no longer held: its memory, its open files, its
        requests in flight (counted as begun as many as it answered). Its counters stay; its slot may
        be given to another worker."""
        self.table.zero(slot, self.layout.gauges)
        row = self.table.row_of(slot)
        row[_BEGUN] = math.fsum(row[index] for index in self.layout.requests)
        self.table.release_slot(slot)

    def recorder(self):
        """The Recorder of this process (or thread)."""
        try:
            return self._local.recorder
        except AttributeError:
            self._local.recorder = Recorder(self, self.table.row())
            return self._local.recorder

    def started(self):
        """A request has begun (it is in flight until it is answered); returns the Recorder that counts
        the rest of it."""
        try:
            recorder = self._local.recorder
        except AttributeError:
            recorder = self.recorder()
        recorder.row[_BEGUN] += 1
        return recorder

    def monitoring(self, totals=None):
        """The inputs and the score against the reference over the window (churn.http.drift), or None
        when the model has no reference; `totals`: the table's, when the caller has just summed it."""
        if self.bins is None:
            return None
        if totals is None:
            self.recorder().flush()
            bin_totals = self.table.totals(self.bins.at_first, self.bins.end)
        else:
            bin_totals = totals[self.bins.at_first : self.bins.end]
        self.window.note(bin_totals)
        return {"window_seconds": WINDOW_SECONDS, "minimum_customers": MINIMUM_CUSTOMERS,
                **monitoring(self.bins, self.window.counts(bin_totals))}  # fmt: skip

    def exposition(self):
        """Every series, summed over the instance's workers, as Prometheus reads them."""
        self.recorder().flush()
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


class _ProcessWide:
    """What a threading.local holds, held once for every thread (greenlet) of a process."""


RECORDER_KEY = "churn.metrics"  # the Recorder that counts a request, in its environ (Counting keeps it there)
_BEGUN = 0  # Layout's first counter
_now, _bucket = time.perf_counter, bisect.bisect_left
_DURATION_SUM = len(DURATION_BUCKETS) + 1  # in a route's duration block, after its buckets


class Recorder:
    """What one process (a gunicorn worker) or thread (waitress's) counts into: its row of the table,
    and the customers it has binned for drift since it last added them there. Once a second, at the
    end of a request, it adds those and refreshes the process's CPU, memory and open files."""

    __slots__ = ("metrics", "row", "_places", "_request_place", "_shed", "bin_counts", "interfaces", "_flush_due",
                 "_bins_each_request")  # fmt: skip

    def __init__(self, metrics, row):
        self.metrics, self.row = metrics, row
        layout = metrics.layout
        self._places = {(route, method, status): layout.request_place(route, method, status)
                        for route in layout.routes for method in METHODS for status in STATUSES}  # fmt: skip
        self._request_place = layout.request_place
        self._shed = layout.index[("shed",)]
        self.bin_counts = None if metrics.bins is None else BinCounts(metrics.bins, time.perf_counter())
        self.interfaces = {interface: InterfaceCounts(self, interface) for interface in INTERFACES}
        self._flush_due = -math.inf
        self._bins_each_request = metrics.threads_share_a_process and self.bin_counts is not None

    def finished(self, route, method, status, started, ended):
        """A request has ended with `status`; `route` is its template, or None; `started` and `ended`
        are time.perf_counter()'s. Answered, it is no longer in flight."""
        row, seconds = self.row, ended - started
        place = self._places.get((route, method, status))
        requests, durations = self._request_place(route, method, status) if place is None else place
        row[requests] += 1
        row[durations + bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        row[durations + _DURATION_SUM] += seconds
        if ended >= self._flush_due:
            self._flush_due = ended + _FLUSH_SECONDS
            self.flush()
        elif self._bins_each_request:
            self.bin_counts.add_to(row)

    def shed(self):
        """A request was refused with 503: its worker was busy with other large requests."""
        self.row[self._shed] += 1

    def flush(self):
        """Add the binned customers to the row; refresh the process's use; note the drift window's
        snapshot when an epoch has begun."""
        metrics = self.metrics
        metrics.process.refresh(self.row)
        if self.bin_counts is not None:
            self.bin_counts.flush(self.row, time.perf_counter())
            metrics.window.note(metrics.table.totals(metrics.bins.at_first, metrics.bins.end))


class _ProcessUse:
    """What this process has used, written into one of its rows (the first to refresh it): CPU
    seconds as it adds up (a counter), its resident memory and open files as they are now (gauges).
    Linux tells memory and files; elsewhere they stay 0."""

    def __init__(self, index):
        names = ("cpu_seconds", "resident_bytes", "open_fds")
        self._cpu, self._memory, self._files = (index[(name,)] for name in names)
        self._pid, self._row, self._cpu_counted = None, None, 0.0

    def refresh(self, row):
        if self._pid != os.getpid():  # a new worker: fork began its CPU time at 0
            self._pid, self._row, self._cpu_counted = os.getpid(), row, 0.0
        times = os.times()
        cpu = times.user + times.system
        self._row[self._cpu] += cpu - self._cpu_counted
        self._cpu_counted = cpu
        self._row[self._memory] = _resident_bytes()
        self._row[self._files] = _open_fds()


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
    """The customers that one Recorder's requests by one interface scored, and those they refused."""

    __slots__ = ("_row", "_scored", "_probability_sum", "_invalid")

    def __init__(self, recorder, interface):
        index = recorder.metrics.layout.index
        self._row = recorder.row
        # ("scored", interface, churn, bound): its first, by churn (False, True), + the bucket's position
        first, buckets = recorder.metrics.layout.scored_at[interface], len(recorder.metrics.layout.probability_bounds)
        self._scored = (first, first + buckets)
        self._probability_sum = index[("probability_sum",)]
        self._invalid = {field: index[("invalid", field)] for field in recorder.metrics.layout.fields}

    def scored(self, probabilities, decisions):
        """Count customers scored with these probabilities and decisions (churn or not): each one's
        counter found in C, then each counter added to once."""
        row, at = self._row, self._scored
        buckets = map(_bucket, itertools.repeat(PROBABILITY_BUCKETS), probabilities)
        for index, count in collections.Counter(map(operator.add, map(at.__getitem__, decisions), buckets)).items():
            row[index] += count
        row[self._probability_sum] += sum(probabilities)

    def scored_one(self, probability, decision):
        """Count one customer scored with this probability and decision."""
        row = self._row
        row[self._scored[decision] + _bucket(PROBABILITY_BUCKETS, probability)] += 1
        row[self._probability_sum] += probability

    def invalid(self, fields):
        """Count refused customers' invalid fields (field -> how many times it was)."""
        other = self._invalid[OTHER]
        for field, count in fields.items():
            self._row[self._invalid.get(field, other)] += count


class Counting:
    """The observer that counts into the instance's Metrics (churn.http.observers): each request as it
    begins and is answered (by route template, method and status, with its duration; a 503 as shed),
    the customers scored by interface, decision and probability, the refused ones' invalid fields; and,
    for a model with a reference, bins the customers scored for the drift (churn.http.drift).

    A request's customers are counted with the request, once its answer is sent (or its client has
    left): a worker killed before that counts neither."""

    def __init__(self, metrics):
        self.metrics = metrics

    def request_started(self, request):
        # The Recorder of this process (or thread) counts the rest of the request: kept in its environ.
        request.environ[RECORDER_KEY] = self.metrics.started()

    def customers_scored(self, request, interface, scores):
        recorder = request.environ[RECORDER_KEY]
        counts = recorder.interfaces[interface]
        _pending(request).append((counts.scored, scores.probabilities, scores.decisions))
        if recorder.bin_counts is not None:
            recorder.bin_counts.sample(scores.rows, scores.probabilities)

    def customer_scored(self, request, interface, row, customerid, probability, decision):
        recorder = request.environ[RECORDER_KEY]
        request.environ[_PENDING] = [(recorder.interfaces[interface].scored_one, probability, decision)]
        bins = recorder.bin_counts
        if bins is not None and next(bins.turns):
            bins.count(row, probability)

    def customers_refused(self, request, interface, refusals):
        # Their fields counted now, added once the request is answered: a request's errors are not held.
        fields = collections.Counter(error["field"] for refusal in refusals for error in refusal.errors)
        _pending(request).append((request.environ[RECORDER_KEY].interfaces[interface].invalid, fields))

    def request_answered(self, request, status, size):
        environ = request.environ
        recorder = environ[RECORDER_KEY]
        for count, *customers in environ.pop(_PENDING, ()):
            count(*customers)
        if status == 503:  # only a worker busy with large requests answers it (churn/http/admission.py)
            recorder.shed()
        route = request.route and request.route.path
        recorder.finished(route, environ["REQUEST_METHOD"], status, request.started, _now())


_PENDING = "churn.metrics.pending"  # a request's customers, counted once it is answered: (count, its arguments)


def _pending(request):
    return request.environ.setdefault(_PENDING, [])


def _request_lines(layout, value):
    yield "# HELP churn_http_requests_total HTTP requests answered, by route template, method and status code.\n"
    yield "# TYPE churn_http_requests_total counter\n"
    for route, method, status in itertools.product(layout.routes, layout.methods, layout.statuses):
        count = value[("requests", route, method, status)]
        if count:
            yield f'churn_http_requests_total{{route="{route}",method="{method}",code="{status}"}} {_number(count)}\n'
    yield "# HELP churn_http_request_duration_seconds Time from a request's start to its answer's end.\n"
    yield "# TYPE churn_http_request_duration_seconds histogram\n"
    bounds = (*DURATION_BUCKETS, math.inf)
    for route in layout.routes:
        counts = [value[("duration_bucket", route, bound)] for bound in bounds]
        sum_ = value[("duration_sum", route)]
        yield from _histogram_lines("churn_http_request_duration_seconds", f'route="{route}"', bounds, counts, sum_)
    yield "# HELP churn_http_requests_in_flight Requests being answered now.\n"
    yield "# TYPE churn_http_requests_in_flight gauge\n"
    answered = math.fsum(value[layout.names[index]] for index in layout.requests)
    in_flight = max(value[("begun",)] - answered, 0.0)
    yield f"churn_http_requests_in_flight {_number(in_flight)}\n"
    yield "# HELP churn_http_requests_shed_total Requests refused with 503: the worker was busy with large ones.\n"
    yield "# TYPE churn_http_requests_shed_total counter\n"
    yield f"churn_http_requests_shed_total {_number(value[('shed',)])}\n"


def _customer_lines(layout, value):
    yield "# HELP churn_customers_scored_total Customers scored, by interface and decision.\n"
    yield "# TYPE churn_customers_scored_total counter\n"
    for interface in INTERFACES:
        for churn in (True, False):
            count = math.fsum(value[("scored", interface, churn, bound)] for bound in layout.probability_bounds)
            labels = f'interface="{interface}",churn="{str(churn).lower()}"'
            yield f"churn_customers_scored_total{{{labels}}} {_number(count)}\n"
    yield "# HELP churn_prediction_probability Churn probabilities of the customers scored.\n"
    yield "# TYPE churn_prediction_probability histogram\n"
    bounds = layout.probability_bounds
    counts = [
        math.fsum(value[("scored", interface, churn, bound)] for interface in INTERFACES for churn in (False, True))
        for bound in bounds
    ]
    yield from _histogram_lines("churn_prediction_probability", "", bounds, counts, value[("probability_sum",)])
    yield "# HELP churn_invalid_customers_total Invalid fields of the customers refused, by field.\n"
    yield "# TYPE churn_invalid_customers_total counter\n"
    for field in layout.fields:
        count = value[("invalid", field)]
        if count:
            yield f'churn_invalid_customers_total{{field="{field}"}} {_number(count)}\n'


def _histogram_lines(name, labels, bounds, counts, sum_):
    """A histogram's samples: its buckets, cumulative, each with its `le` after `labels` (a series'
    own labels, written out, or ""), then its sum and its count."""
    cumulative, before_le = 0.0, f"{labels}," if labels else ""
    for bound, count in zip(bounds, counts, strict=True):
        cumulative += count
        le = "+Inf" if bound == math.inf else repr(bound)
        yield f'{name}_bucket{{{before_le}le="{le}"}} {_number(cumulative)}\n'
    labelled = f"{{{labels}}}" if labels else ""
    yield f"{name}_sum{labelled} {_number(sum_)}\n"
    yield f"{name}_count{labelled} {_number(cumulative)}\n"


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
