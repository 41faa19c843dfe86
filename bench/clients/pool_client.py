#!/usr/bin/env python3
"""Python's answer to mmc's request_all, for bench/run's batch rows (issue 18): a thread pool
(concurrent.futures, THREADS threads) where every thread keeps its own http.client HTTPS
connection alive, doing the same change-status calls:

    pool_client.py N THREADS [B]   authenticate (not timed), then B batches (default 2) of N
                                   calls through the pool, each batch timed on its own

Prints, per batch, the BATCH line of clients/mmc_batch.lua (conns from BENCH_COUNT_FILE, the
delay proxy's accept count, when set). The first batch opens the threads' connections; the
later ones find them kept.
"""
import concurrent.futures, os, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_client as hc  # noqa: E402  (its Client: the signing and the call)


def accepted():
    path = os.environ.get("BENCH_COUNT_FILE")
    if not path:
        return None
    with open(path) as f:
        return int(f.readline())


def main():
    n, threads = int(sys.argv[1]), int(sys.argv[2])
    batches = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    first = hc.Client()
    first.authenticate()
    token = first.token
    local = threading.local()

    def call(_):
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = hc.Client()
            client.token = token
        return client.call()

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        for b in range(1, batches + 1):
            before = accepted()
            t = time.perf_counter()
            statuses = list(pool.map(call, range(n)))
            wall = time.perf_counter() - t
            after = accepted()
            bad = [s for s in statuses if s != 200]
            if bad:
                sys.exit("pool_client: %d calls failed (HTTP %s)" % (len(bad), bad[0]))
            print("BATCH batch=%d calls=%d conc=%d wall=%.6f conns=%d" % (
                b, n, threads, wall, after - before if before is not None else -1), flush=True)


main()
