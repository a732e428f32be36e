"""An ordered map over processes or threads, a bounded number of pieces in flight: what predict.py uses to
score a file on every CPU it may use, writing the results in the input's order, its memory bounded
by the pieces in flight, not by the input (multiprocessing.Pool.imap reads its whole input ahead).
Standard library only."""

import multiprocessing
import signal
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

PIECES_IN_FLIGHT_PER_JOB = 2  # one being worked on, one waiting: no process idles between pieces

_work = None  # in a worker process: the function its start made


def ordered_map(make, spec, pieces, jobs, threads=False):
    """make(spec)(piece) for each of `pieces`, in their order, computed by `jobs` processes (in this
    one when jobs is 1), or by `jobs` threads sharing one function (for work done without the GIL).
    `make` and `spec` are sent to each process to build its function once; `pieces` are read only as
    results are taken, at most jobs * PIECES_IN_FLIGHT_PER_JOB ahead."""
    if jobs <= 1:
        yield from map(make(spec), pieces)
        return
    if threads:
        pool, work = ThreadPoolExecutor(jobs), make(spec)
    else:
        # spawn, not fork: a forked copy of a process that runs threads (Arrow's) may deadlock, and
        # spawn is what macOS and Windows do anyway.
        context = multiprocessing.get_context("spawn")
        pool, work = ProcessPoolExecutor(jobs, mp_context=context, initializer=_start, initargs=(make, spec)), _run
    try:
        in_flight = deque()
        for piece in pieces:
            in_flight.append(pool.submit(work, piece))
            if len(in_flight) >= jobs * PIECES_IN_FLIGHT_PER_JOB:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)


def _start(make, spec):
    global _work
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops the run
    _work = make(spec)


def _run(piece):
    return _work(piece)
