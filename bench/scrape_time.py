"""How long a Prometheus scrape of /metrics takes with many workers: gunicorn as serve.py starts it,
with --workers workers, some predictions first, then timed GETs of /metrics (round trip on loopback,
with /ping's beside it for comparison).

    .venv/bin/python bench/scrape_time.py [--workers 8] [--scrapes 100]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import Server  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "customer.json"


def _milliseconds(server, path, times):
    taken = []
    for _ in range(times):
        start = time.perf_counter()
        status, body = server.get(path)
        taken.append((time.perf_counter() - start) * 1000)
        assert status == 200, (path, status)
    return sorted(taken), len(body)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=8, help="gunicorn workers (default 8)")
    parser.add_argument("--scrapes", type=int, default=100, help="scrapes of /metrics to time (default 100)")
    args = parser.parse_args(argv)
    body = EXAMPLE.read_bytes()
    with Server.launch("gunicorn", env={"WEB_CONCURRENCY": str(args.workers)}) as server:
        server.wait_until_serving()
        for _ in range(500):
            server.post("/predict", body, "application/json")
        scrapes, size = _milliseconds(server, "/metrics", args.scrapes)
        pings, _ = _milliseconds(server, "/ping", args.scrapes)
    print(
        f"/metrics with {args.workers} workers: median {statistics.median(scrapes):.2f} ms, "
        f"p90 {scrapes[int(len(scrapes) * 0.9)]:.2f} ms, max {scrapes[-1]:.2f} ms, {size:,} bytes; "
        f"/ping median {statistics.median(pings):.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
