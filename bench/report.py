#!/usr/bin/env python3
"""Turns the raw lines bench/run collected into the table it prints, bench/results.md and the
figures of docs/speed.md.

    report.py RESULTS.txt OUT.md [SPEED.md]          writes OUT.md (and SPEED.md's figures)
    report.py --check RESULTS.txt OUT.md SPEED.md    fails unless both are what it would write

bench/run keeps its raw lines in bench/results.txt, beside the results.md and speed.md written
from them, so that the check (spec/docs_spec.lua runs it) proves no figure was edited by hand
or spliced in from another run. In SPEED.md, the text between a line
`<!-- bench/report.py: NAME -->` and the next `<!-- end of bench/report.py -->` is replaced by
the block NAME (run, calls, instructions, profile, auth, wan, targets, and soak: bench/soak's
runs, from bench/soak.txt beside RESULTS.txt); the rest is prose without figures.

RESULTS.txt holds, one a line:
    RESULT <key> calls=N wall=S cpu=S p50=US p99=US hwm=KB [first=US]
    WRK requests_per_s=X [non2xx=N]
    COUNT calls=N appauth=N
    RSS [lua=luajit] calls=N rss_1k=KB rss_n=KB hwm=KB
    CG <key> calls=N ir=N
    CGDIFF <a line of bench/cg_diff.py's table>
    CGDIFFALL <a line of its table of mmc.request_all against the single call>
    BATCH <key> batch=B calls=N conc=C wall=S conns=K    (issue 18: one timed batch)
    MISSING <key> <why>          a batch row that could not be measured (a failure, not a figure)
    H2LOG <key> requests=N http2=N connections=K
    DOWNLOAD <key> bytes=N wall=S [cpu=S rss0=KB hwm=KB]  (issue 19: one download, mmc54 or curlcmd)
    UPLOAD bytes=N seconds=S rss_before=KB hwm_before=KB hwm_after=KB status=200
                                 (issue 19: one form upload of a 64 MiB file, streamed)
    META <name> <text>           (upload_date, upload_commit, download_date, download_commit:
                                 when bench/run --upload-only or --download-only last
                                 replaced the UPLOAD or DOWNLOAD lines)
The lines are in the order the runs were made. Every client run sits next to floor runs; its
ratio to the floor is taken against the floor runs just before and after it (the machine's
speed drifts), and a row's ratio is the median of those paired ratios over its runs. The
absolute figures of a row are the medians over its runs. Nothing here is a constant: every
figure comes from RESULTS.txt.
"""
import os
import statistics
import sys
from collections import defaultdict

ROWS = [
    ("floor", "C floor: raw libcurl, one reused easy handle"),
    ("mmc54", "mmc, Lua 5.4 (`mmc.set_webhook_status`)"),
    ("mmcjit", "mmc, LuaJIT 2.1"),
    ("luacurl", "Lua 5.1 + Debian lua-curl, one reused handle"),
    ("python", "Python `http.client`, one kept-alive connection"),
    ("luasec", "LuaSec `ssl.https.request` (Lua 5.4)"),
    ("curlcmd", "`curl` command, run per call"),
    ("or1", "OpenResty: mmc via `ngx.run_worker_thread`, 1 thread"),
    ("or2", "OpenResty: mmc via `ngx.run_worker_thread`, 2 threads"),
    ("or4", "OpenResty: mmc via `ngx.run_worker_thread`, 4 threads"),
]
NAMES = dict(ROWS)
NAMES["mmc54request"] = "mmc, Lua 5.4, the same call with `mmc.request`"
NAMES["mmc54hook"] = "mmc, Lua 5.4 (`mmc.set_webhook_status`) with an `on_request` hook"
NAMES["mmc54all"] = "mmc, Lua 5.4, `mmc.request_all` in batches of 100 (per call)"
NAMES["mmc54allbuild"] = "(of which the program builds the requests: `{ method, path, options }`)"
# issue 18: (key, name, concurrency, target RTT for the first batch, connections at most)
BATCH_ROWS = [
    ("seq", "mmc, one after another (`mmc.set_webhook_status`): the reference", 1, None, 1),
    ("all8", "mmc `request_all`, concurrency 8, HTTP/1.1", 8, 16, 8),
    ("all32", "mmc `request_all`, concurrency 32, HTTP/1.1", 32, 8, 32),
    ("h2all32", "mmc `request_all`, concurrency 32, HTTP/2", 32, 6, 1),
    ("py8", "Python `concurrent.futures`, 8 threads, `http.client` (a kept-alive connection "
            "per thread)", 8, None, 8),
]


def kv(words):
    out = {}
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def load(path):
    results, cg, meta = defaultdict(list), defaultdict(lambda: defaultdict(dict)), {}
    order = []   # (key, result) in the order the runs were made
    wrk = count = None
    rss = {}
    cg_diff = []
    many = {"batch": defaultdict(list), "missing": {}, "h2log": defaultdict(list),
            "download": []}
    for line in open(path):
        words = line.split()
        if not words:
            continue
        tag = words[0]
        if tag == "CGDIFF":
            cg_diff.append(line.rstrip("\n")[len("CGDIFF "):])
            continue
        if tag == "CGDIFFALL":
            many.setdefault("cg_diff", []).append(line.rstrip("\n")[len("CGDIFFALL "):])
            continue
        if tag == "BATCH":
            many["batch"][words[1]].append(kv(words[2:]))
            continue
        if tag == "EACH":
            many.setdefault("each", []).append(kv(words[1:]))
            continue
        if tag == "EACHMETA":
            many.setdefault("each_meta", {})[words[1]] = " ".join(words[2:])
            continue
        if tag == "MISSING":
            many["missing"].setdefault(words[1], " ".join(words[2:]))
            continue
        if tag == "DOWNLOAD":
            many["download"].append((words[1], kv(words[2:])))
            continue
        if tag == "H2LOG":
            many["h2log"][words[1]].append(kv(words[2:]))
            continue
        if tag == "UPLOAD":
            many["upload"] = kv(words[1:])
            continue
        if tag == "RESULT":
            r = kv(words[2:])
            r["rate"] = r["calls"] / r["wall"]
            r["cpu_us"] = r["cpu"] / r["calls"] * 1e6
            results[words[1]].append(r)
            order.append((words[1], r))
        elif tag == "WRK":
            wrk = kv(words[1:])
        elif tag == "COUNT":
            count = kv(words[1:])
        elif tag == "RSS":
            r = kv(words[1:])
            rss[r.get("lua", "lua5.4")] = r
        elif tag == "CG":
            r = kv(words[2:])
            cg[words[1]][int(r.get("run", 1))][int(r["calls"])] = r["ir"]
        elif tag == "META":
            meta[words[1]] = " ".join(words[2:])
    pair_with_floor(order)
    return results, cg, meta, wrk, count, rss, cg_diff, many


def pair_with_floor(order):
    """Sets r["vs_rate"] and r["vs_cpu"] on every run: its ratio to the mean of the nearest
    floor run (of its own group: "floor" or "auth_floor") before it and after it."""
    for i, (key, r) in enumerate(order):
        group = key[:-len(key.split("_")[-1])]   # "" or "auth_" or "wan_"
        floor_key = group + "floor"
        near = []
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(order) and order[j][0] != floor_key:
                j += step
            if 0 <= j < len(order):
                near.append(order[j][1])
        if key == floor_key:
            near = [r]
        if near:
            r["vs_rate"] = r["rate"] / statistics.mean(f["rate"] for f in near)
            r["vs_cpu"] = r["cpu_us"] / statistics.mean(f["cpu_us"] for f in near)


def summary(runs):
    """The medians of a client's runs, and the medians of its paired ratios to the floor."""
    out = {}
    for field in ("rate", "p50", "p99", "cpu_us", "hwm", "vs_rate", "vs_cpu", "first"):
        values = [r[field] for r in runs if field in r]
        if values:
            out[field] = statistics.median(values)
    ratios = [r["vs_rate"] for r in runs if "vs_rate" in r]
    if ratios:
        out["vs_rate_range"] = (min(ratios), max(ratios))
    out["runs"] = len(runs)
    return out


def fmt(x, digits=0):
    if x is None:
        return "–"
    if digits == 0:
        return "{:,.0f}".format(x)
    return "{:,.{}f}".format(x, digits)


def ratio(x, base, digits=2):
    if x is None or not base:
        return "–"
    r = x / base
    if r >= 100:
        return "{:,.0f}x".format(r)
    return "{:.{}f}x".format(r, digits)


def report(results_path):
    """The text of results.md, the blocks of speed.md, and what to print."""
    results, cg, meta, wrk, count, rss, cg_diff, many = load(results_path)
    blocks = {}
    best = {k: summary(v) for k, v in results.items()}
    floor = best.get("floor")
    lines = []
    w = lines.append

    # ---- the main table
    w("| client | calls/s | vs floor | median µs | p99 µs | CPU µs/call | CPU vs floor | peak RSS MiB | runs |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, name in ROWS:
        r = best.get(key)
        if r is None:
            continue
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            name, fmt(r["rate"]), ratio(r["vs_rate"], 1, 3),
            fmt(r["p50"], 1), fmt(r["p99"], 1), fmt(r["cpu_us"], 1),
            ratio(r["vs_cpu"], 1, 2), fmt(r["hwm"] / 1024, 1), r["runs"]))
    main_table = list(lines)
    blocks["calls"] = main_table

    # ---- ratios the targets are about
    def rate(k):   # throughput relative to the floor, from the paired ratios
        return best[k]["vs_rate"] if k in best else None

    targets = []

    def target(text, ok, detail):
        verdict = "met" if ok is True else "**missed**" if ok is False else ok
        targets.append("| %s | %s | %s |" % (text, detail, verdict))

    for k, label in (("mmc54", "Lua 5.4"), ("mmcjit", "LuaJIT")):
        if k in best and floor:
            r = rate(k)
            low, high = best[k]["vs_rate_range"]
            target("mmc (%s) throughput >= 0.90x floor" % label, r >= 0.90,
                   "%.3fx (median of %d paired runs; they ranged %.2fx to %.2fx)" % (
                       r, best[k]["runs"], low, high))
    # Per call: the difference between two sizes of the same run, over the calls between them;
    # with repeats, the median of the runs' figures (ir_runs keeps them all).
    ir, ir_runs = {}, {}
    for k, repeats in cg.items():
        figures = []
        for runs in repeats.values():
            if len(runs) >= 2:
                n1, n2 = sorted(runs)[:2]
                figures.append((runs[n2] - runs[n1]) / (n2 - n1))
        if figures:
            ir[k] = statistics.median(figures)
            ir_runs[k] = sorted(figures)

    def spread(*keys):  # "; medians of 3 runs each, which ranged: mmc54all A to B, ..." or ""
        parts = ["%s %s to %s" % (k, fmt(ir_runs[k][0]), fmt(ir_runs[k][-1]))
                 for k in keys if len(ir_runs.get(k, [])) > 1]
        if not parts:
            return ""
        return "; medians of %d runs each, which ranged: %s" % (
            max(len(ir_runs[k]) for k in keys if k in ir_runs), ", ".join(parts))
    for k, label in (("mmc54", "Lua 5.4"), ("mmcjit", "LuaJIT")):
        if k in ir and "floor" in ir:
            r = ir[k] / ir["floor"]
            target("mmc (%s) instructions/call <= 1.15x floor" % label, r <= 1.15,
                   "%.3fx (%s vs %s)" % (r, fmt(ir[k]), fmt(ir["floor"])))
    # issue 11: the generic call costs what the dedicated one does; a hook costs < 5 %
    if "mmc54" in ir and "mmc54request" in ir:
        r = ir["mmc54request"] / ir["mmc54"]
        target("`mmc.request` instructions/call within 5% of `set_webhook_status` (same call)",
               r <= 1.05, "%.3fx (%s vs %s)" % (r, fmt(ir["mmc54request"]), fmt(ir["mmc54"])))
    # issue 18: a batch costs per call what a single call does; the single call near the floor
    if "mmc54" in ir and "floor" in ir:
        r = ir["mmc54"] / ir["floor"]
        target("a single call (`set_webhook_status`, Lua 5.4) instructions/call <= 1.10x floor",
               r <= 1.10, "%.3fx (%s vs %s%s)" % (r, fmt(ir["mmc54"]), fmt(ir["floor"]),
                                                  spread("mmc54")))
    if "mmc54all" in ir and "mmc54" in ir:
        r = ir["mmc54all"] / ir["mmc54"]
        # Both figures: the whole call as a program makes it, and without the program's own
        # building of its { method, path, options } tables (what mmc cannot change).
        without_building = ""
        if "mmc54allbuild" in ir:
            mmc_part = ir["mmc54all"] - ir["mmc54allbuild"]
            without_building = ("; of the %s, the program's building of its request tables: %s; "
                                "without it, %s = %.3fx" % (
                                    fmt(ir["mmc54all"]), fmt(ir["mmc54allbuild"]),
                                    fmt(mmc_part), mmc_part / ir["mmc54"]))
        target("`request_all` over 100 calls: instructions/call <= 1.10x a single "
               "`set_webhook_status` call's", r <= 1.10,
               "%.3fx (%s vs %s%s%s)" % (r, fmt(ir["mmc54all"]), fmt(ir["mmc54"]), without_building,
                                         spread("mmc54all", "mmc54")))
    elif "cg_mmc54all" in many["missing"] and "mmc54" in ir:
        target("`request_all` over 100 calls: instructions/call <= 1.10x a single "
               "`set_webhook_status` call's", False,
               "not measured: " + many["missing"]["cg_mmc54all"])
    if "mmc54" in ir and "mmc54hook" in ir:
        r = ir["mmc54hook"] / ir["mmc54"]
        target("an `on_request` hook costs < 5% instructions/call", r < 1.05,
               "%.3fx (%s vs %s)" % (r, fmt(ir["mmc54hook"]), fmt(ir["mmc54"])))
    for other, factor in (("python", 2), ("luasec", 100), ("curlcmd", 100)):
        if other in best and "mmc54" in best:
            r = rate("mmc54") / rate(other)
            detail = "%.2fx" % r
            if floor and r < factor:
                # What bounds it: no client can be faster than the floor on the same server.
                detail += " (the floor itself: %.2fx; client CPU per call: mmc %.2fx less)" % (
                    1 / rate(other), best[other]["vs_cpu"] / best["mmc54"]["vs_cpu"])
            target("mmc (Lua 5.4) >= %dx %s" % (factor, NAMES[other].split(",")[0].split(" (")[0]),
                   r >= factor, detail)
    delay_ms = float(meta.get("delay_ms", "25"))
    rtt_us = 2 * delay_ms * 1000
    wan = {}
    for k, runs in results.items():
        if k.startswith("wan_"):
            firsts = [r["first"] for r in runs if "first" in r]
            steady = [r["p50"] for r in runs]
            wan[k[4:]] = (statistics.median(firsts) if firsts else None,
                          statistics.median(steady), len(runs))
    for k, label in (("mmc54", "Lua 5.4"), ("mmcjit", "LuaJIT")):
        if k in wan:
            first, steady, _ = wan[k]
            target("mmc (%s) WAN steady call <= 1.1 RTT" % label, steady / rtt_us <= 1.1,
                   "%.2f RTT" % (steady / rtt_us))
            target("mmc (%s) WAN cold first call <= 4.5 RTT" % label, first / rtt_us <= 4.5,
                   "%.2f RTT" % (first / rtt_us))
    # issue 18: many calls at once, in RTT of the same link
    batch = batch_summary(many)
    seq = batch.get("seq")
    if "seq" in many["missing"]:
        target("100 calls one after another: about 100 RTT (the reference)", False,
               "not measured: " + many["missing"]["seq"])
    elif seq:
        rtts = seq["first"] / rtt_us
        target("%d calls one after another: about %d RTT (the reference; checked: %d to %d)" % (
            seq["calls"], seq["calls"], 0.9 * seq["calls"], 1.2 * seq["calls"]),
            0.9 * seq["calls"] <= rtts <= 1.2 * seq["calls"], "%.1f RTT" % rtts)
    for key, name, conc, most_rtt, most_conns in BATCH_ROWS:
        if most_rtt is None:
            continue
        text = "`request_all`, concurrency %d%s: %s calls in at most %d RTT%s" % (
            conc, " over HTTP/2" if key.startswith("h2") else "",
            fmt(seq["calls"]) if seq else "100", most_rtt,
            " on one connection" if most_conns == 1 else
            ", on at most %d connections" % most_conns)
        r = batch.get(key)
        if key in many["missing"]:
            target(text, False, "not measured: " + many["missing"][key])
            continue
        if r is None:
            continue
        rtts = r["first"] / rtt_us
        detail = "%.1f RTT, %d connection(s) opened (the most in a run)" % (rtts, r["conns"])
        ok = rtts <= most_rtt and r["conns"] <= most_conns
        logs = many["h2log"].get(key)
        if key.startswith("h2"):
            if not logs:
                ok, detail = False, detail + "; no nginx log of its calls"
            else:
                calls = sum(x["requests"] for x in logs)
                h2 = sum(x["http2"] for x in logs)
                conns = max(x["connections"] for x in logs)
                detail += "; nginx: %d of %d calls over HTTP/2, on %d connection(s) per run" % (
                    h2, calls, conns)
                ok = ok and calls > 0 and h2 == calls and conns == 1
        target(text, ok, detail)
    downloads = download_summary(many["download"])
    download_when = (" (`bench/run --download-only`, %s, commit %s)" % (
        meta["download_date"], meta.get("download_commit", "?")) if "download_date" in meta else "")
    if "mmc54" in downloads and "curlcmd" in downloads:
        d = downloads["mmc54"]
        target("download of a %s MiB file: mmc throughput >= 0.90x the curl command's" %
               fmt(d["mib"]), d["vs_curl"] >= 0.90,
               "%.3fx (median of %d paired runs; they ranged %.2fx to %.2fx)%s" % (
                   d["vs_curl"], len(d["pairs"]), min(d["pairs"]), max(d["pairs"]),
                   download_when))
        target("download of a %s MiB file: the Lua process's peak RSS grows < 16 MiB" %
               fmt(d["mib"]), d["growth"] < 16 * 1024,
               "%s KiB at most (%s KiB before the download, %s KiB at the peak)" % (
                   fmt(d["growth"]), fmt(d["growth_rss0"]), fmt(d["growth_hwm"])))
    if count:
        target("%s calls make exactly 1 appauth" % fmt(count["calls"]), count["appauth"] == 1,
               "%d appauth" % count["appauth"])
    # issue 19: client:each asks for exactly one page per `limit` items
    for r in many.get("each", []):
        expected = -(-int(r["items"]) // int(r["limit"]))
        target("`each` over %s items makes exactly ceil(%s / %d) = %d requests" % (
            fmt(r["items"]), fmt(r["items"]), r["limit"], expected),
            r["requests"] == expected and r["seen"] == r["items"],
            "%d requests, %s items walked" % (r["requests"], fmt(r["seen"])))
    for lua, r in sorted(rss.items()):
        grow = r["rss_n"] - r["rss_1k"]
        target("RSS after %s calls within 1 MiB of after 1,000 (%s)" % (fmt(r["calls"]), lua),
               (abs(grow) <= 1024) if r["calls"] >= 100000 else "not checked (--quick)",
               "%s KiB -> %s KiB (%+d KiB)%s" % (fmt(r["rss_1k"]), fmt(r["rss_n"]), grow,
                                                 "" if r["calls"] >= 100000 else
                                                 "; --quick: fewer than 100,000 calls"))

    up = many.get("upload")
    if up:   # issue 19: a form upload streams the file from disk
        grow = up["hwm_after"] - up["hwm_before"]
        when = (" (`bench/run --upload-only`, %s, commit %s)" % (meta["upload_date"],
                                                                 meta.get("upload_commit", "?"))
                if "upload_date" in meta else "")
        target("upload of a %s MiB file (`options.form`): peak RSS grows < 16 MiB" %
               fmt(up["bytes"] / 1048576), grow < 16 * 1024,
               "peak RSS %s KiB -> %s KiB (%+d KiB), %s MiB/s to the local server%s" % (
                   fmt(up["hwm_before"]), fmt(up["hwm_after"]), grow,
                   fmt(up["bytes"] / 1048576 / up["seconds"]), when))

    # ---- results.md
    md = []
    m = md.append
    m("# mmc benchmark results")
    m("")
    m("Written by `bench/run%s` on %s. Every figure below comes from that one run; the "
      "clients ran side by side against the same server, so compare the ratios, not the "
      "absolute times." % (" --quick" if meta.get("quick") == "1" else "", meta.get("date", "?")))
    m("")
    m("## Machine")
    m("")
    for key, label in (("cpu", "CPU"), ("cores", "cores"), ("memory", "memory"), ("os", "system"),
                       ("libcurl", "libcurl"), ("openssl", "OpenSSL"), ("lua54", "Lua 5.4"),
                       ("luajit", "LuaJIT"), ("lua51", "Lua 5.1"), ("python", "Python"),
                       ("nginx", "nginx"), ("luacurl", "lua-curl"), ("luasec", "LuaSec"),
                       ("mmc", "mmc (git)")):
        if key in meta:
            m("- %s: %s" % (label, meta[key]))
    m("- %s" % run_of(meta))
    if "load_start" in meta:
        m("- load average (1, 5, 15 min) when the run began: %s; when it ended: %s (the "
          "benchmark itself keeps about 1.5 cores busy; more means other work shared the "
          "machine)" % (meta["load_start"], meta.get("load_end", "?")))
    m("")
    m("## Sequential change-status calls, loopback TLS, keep-alive")
    m("")
    m("`PUT /v1/mmc/management/webhook/change-status` with a valid token, one call after the "
      "other, against nginx on 127.0.0.1 (TLS, HTTP/1.1 keep-alive) answering as the real "
      "service. The fast clients ran in %s round(s), each run between two runs of the floor; "
      "a row's *vs floor* figures are the medians of each run's ratio to the floor runs on "
      "either side of it (the machine's speed drifts from minute to minute, so only ratios "
      "taken side by side mean much), and its absolute figures are the medians over its own "
      "runs (so on a busy machine a row's calls/s can disagree with its ratio: trust the "
      "ratio). "
      "CPU is the client's own (user + system) during the calls; peak RSS is the client "
      "process's high-water mark." % meta.get("rounds", "?"))
    m("")
    md.extend(main_table)
    m("")
    if wrk:
        m("Server capacity, same run: `wrk -t2 -c32` on the same URL gave **%s requests/s**%s "
          "(with wrk and nginx sharing the machine's %s cores), so the server is not what "
          "limits a sequential client." % (fmt(wrk.get("requests_per_s")),
                                           " (%d non-2xx!)" % wrk["non2xx"] if "non2xx" in wrk
                                           else "", meta.get("cores", "?")))
        m("")
    m("Notes: the floor and mmc send the same request bytes (same headers, a fresh "
      "`X-Request-ID` each call); the floor does nothing else, while mmc also validates and "
      "decodes the JSON answer into a Lua table, keeps the token fresh and builds results. "
      "lua-curl is Debian's binding, linked to libcurl-gnutls (GnuTLS, not OpenSSL). LuaSec "
      "and the curl command open a new TCP and TLS connection for every call; LuaSec also "
      "writes the request line and the headers in two small writes without `TCP_NODELAY`, so "
      "some calls wait for a delayed ACK. For OpenResty every call is one "
      "`ngx.run_worker_thread` task; CPU and RSS are the whole nginx worker's (its threads "
      "included), and the 2- and 4-thread rows run that many calls at once.")
    m("")
    if any(k.startswith("auth_") for k in best):
        m("## Authentications per second")
        m("")
        m("`POST /v2/usg/acs/auth/appauth`, each with a fresh 48-hex nonce and HMAC-SHA256 "
          "signature, over one kept-alive connection; the server verifies every signature.")
        m("")
        table = ["| client | auth/s | vs floor | median µs | CPU µs/call | CPU vs floor |",
                 "|---|---:|---:|---:|---:|---:|"]
        for key, name in (("floor", "C floor: raw libcurl + OpenSSL HMAC"),
                          ("mmc54", "mmc, Lua 5.4 (`mmc.auth`)"), ("mmcjit", "mmc, LuaJIT 2.1")):
            r = best.get("auth_" + key)
            if r:
                table.append("| %s | %s | %s | %s | %s | %s |" % (
                    name,
                    fmt(r["rate"]), ratio(r["vs_rate"], 1, 3), fmt(r["p50"], 1),
                    fmt(r["cpu_us"], 1), ratio(r["vs_cpu"], 1)))
        blocks["auth"] = table
        md.extend(table)
        m("")
    if wan:
        m("## WAN mode: %g ms one way (RTT %g ms) through `bench/delay_proxy.py`" %
          (delay_ms, 2 * delay_ms))
        m("")
        m("First call from a cold start: connect, TLS, authentication and the call, timed "
          "together in a fresh process (the interpreter's start-up excluded). Steady: the "
          "median of the calls after it. The proxy also delays the TCP handshake. One round "
          "trip per call is the physical limit. Clients that cannot sign (lua-curl, LuaSec, "
          "the curl command) are handed a request signed in advance, so they make the same "
          "round trips.")
        m("")
        table = ["| client | first call ms | first call RTT | steady ms | steady RTT | runs |",
                 "|---|---:|---:|---:|---:|---:|"]
        for key, name in ROWS:
            if key in wan:
                first, steady, n = wan[key]
                table.append("| %s | %s | %s | %s | %s | %d |" % (
                    name, fmt(first / 1000 if first else None, 1),
                    fmt(first / rtt_us if first else None, 2), fmt(steady / 1000, 1),
                    fmt(steady / rtt_us, 2), n))
        blocks["wan"] = ["Over a %g ms round trip (%g ms each way):" % (2 * delay_ms, delay_ms), ""] + table
        md.extend(table)
        m("")
        m("OpenResty is not run through the proxy: its calls are mmc's, the same round trips "
          "as the mmc rows.")
        m("")
    batch_table = batch_lines(BATCH_ROWS, batch, many["missing"], rtt_us)
    if batch_table:
        m("## Many calls at once: %s change-status calls over a %g ms RTT (issue 18)" % (
            fmt(seq["calls"]) if seq else "100", 2 * delay_ms))
        m("")
        m("The same proxy as the WAN mode; every row is a fresh process that authenticates "
          "first (not timed), then times two batches (the reference: one run of its calls). "
          "The first batch opens the connections it needs (the token is already held), the "
          "second finds them kept; the targets are about the first, connections included. "
          "*Connections* is how many the proxy "
          "accepted during the batch; the HTTP/2 row goes to a second listener of the same "
          "nginx that offers HTTP/2 by ALPN (the HTTP/1.1 rows' listener does not). Figures "
          "are medians over the runs (connections: the most seen in a run).")
        m("")
        md.extend(batch_table)
        m("")
        h2 = many["h2log"].get("h2all32")
        if h2:
            m("nginx's log of the HTTP/2 row: %d of %d change-status calls over HTTP/2, on %s "
              "connection(s) per run (each run: its %d batches)." % (
                  sum(x["http2"] for x in h2), sum(x["requests"] for x in h2),
                  "/".join(str(int(x["connections"])) for x in h2),
                  batch["h2all32"]["batches"] if "h2all32" in batch else 0))
            m("")
        blocks["wan"] = blocks.get("wan", []) + [
            "", "%s change-status calls at once (issue 18) over the same link; *first* opens "
            "its connections, *again* finds them kept:" % (fmt(seq["calls"]) if seq else "100"),
            ""] + batch_table
    if downloads:
        mib = next(iter(downloads.values()))["mib"]
        m("## Download of a %s MiB file over loopback TLS (issue 19)" % fmt(mib))
        m("")
        m("The same nginx serves a %s MiB file as Huawei's download hosts serve a recording: "
          "over TLS, against its token in `Authorization`. mmc's `client:download` (Lua 5.4, a "
          "fresh process, the file written beside its target and renamed) and the `curl` "
          "command (`-o FILE`) fetch it alternately, in the same run, to the same disk. "
          "Throughput is the median over the runs; *vs curl* is the median of each mmc run's "
          "ratio to the curl run next to it (for the synced curl row, its own ratio to the plain "
          "one); *peak RSS growth* is the process's peak resident "
          "memory at the end less its resident memory just before the download (module "
          "loaded, client made), the most over the runs.%s" % (
              fmt(mib), " Measured by `bench/run --download-only` on %s, commit %s; the "
              "rest of this report is the full run's." % (meta["download_date"],
                                                         meta.get("download_commit", "?"))
              if "download_date" in meta else ""))
        m("")
        m("| client | MiB/s | vs curl | CPU s | peak RSS growth MiB | runs |")
        m("|---|---:|---:|---:|---:|---:|")
        for key, name in (("mmc54", "mmc `client:download`, Lua 5.4"),
                          ("curlcmd", "`curl` command"),
                          ("curlsync", "`curl` command, then the file `fsync`ed (what mmc adds "
                                       "before the rename with `sync = true`)")):
            d = downloads.get(key)
            if d:
                m("| %s | %s | %s | %s | %s | %d |" % (
                    name, fmt(d["rate"], 1),
                    "%.3fx" % d["vs_curl"] if d.get("vs_curl") else
                    "%.3fx" % d["vs_plain"] if d.get("vs_plain") else "–",
                    fmt(d["cpu"], 2) if d.get("cpu") is not None else "–",
                    fmt(d["growth"] / 1024, 1) if d.get("growth") is not None else "–",
                    d["runs"]))
        m("")
    if ir:
        m("## Instructions per call (callgrind)")
        m("")
        sizes = sorted(next(iter(next(iter(cg.values())).values())))
        repeated = sorted(k for k, figures in ir_runs.items() if len(figures) > 1)
        m("`valgrind --tool=callgrind` over two runs of each client (%s calls); the difference "
          "divided by the difference in calls is the cost of one call, start-up excluded. The "
          "whole process counts: Lua interpreter, mmc, libcurl, OpenSSL, libc.%s" % (
              " and ".join(fmt(n) for n in sizes),
              (" The counts vary by a few hundred instructions a call from run to run (the order "
               "in which a batch's transfers end, TLS sessions resumed or not, the heap's "
               "layout): %s were each measured %d times, and the table gives the median "
               "(the targets below give the range)." % (
                   ", ".join("`%s`" % k for k in repeated),
                   max(len(ir_runs[k]) for k in repeated))) if repeated else ""))
        m("")
        table = ["| client | instructions/call | vs floor |", "|---|---:|---:|"]
        for key in ("floor", "mmc54", "mmcjit", "mmc54request", "mmc54hook", "mmc54all",
                    "mmc54allbuild"):
            if key in ir:
                table.append("| %s | %s | %s |" % (NAMES[key], fmt(ir[key]),
                                                  ratio(ir[key], ir["floor"], 3)))
        blocks["instructions"] = table
        md.extend(table)
        m("")
        if cg_diff:
            profile = ["```text"] + cg_diff + ["```"]
            blocks["profile"] = profile
            m("Where mmc (Lua 5.4) spends more than the floor, per call (self instructions by "
              "function; `bench/cg_diff.py`):")
            m("")
            md.extend(profile)
            m("")
        if many.get("cg_diff"):
            m("Where a call made in a `request_all` batch of 100 spends more than the same call "
              "made alone with `set_webhook_status` (Lua 5.4), per call:")
            m("")
            md.extend(["```text"] + many["cg_diff"] + ["```"])
            m("")
    if many.get("each"):
        each_meta = many.get("each_meta")
        m("## Pages: `client:each` (issue 19)")
        m("")
        m("A fresh Lua 5.4 process walks `GET /v1/mmc/management/conferences` of the local mock "
          "(`spec/mock`, set up with that many meetings) with `client:each`, `limit` items a "
          "page, after logging in; the mock counts the requests. %s" % (
              "Measured by `bench/run --each-only` on %s, commit %s (%s), apart from the run "
              "above." % (each_meta.get("date", "?"), each_meta.get("commit", "?"),
                          "a clean tree" if each_meta.get("tree") == "clean"
                          else "tree " + each_meta.get("tree", "?"))
              if each_meta else "Measured in this run."))
        m("")
        m("| limit | items | items walked | requests | ceil(items / limit) | seconds |")
        m("|---:|---:|---:|---:|---:|---:|")
        for r in many["each"]:
            m("| %d | %s | %s | %d | %d | %.2f |" % (
                r["limit"], fmt(r["items"]), fmt(r["seen"]), r["requests"],
                -(-int(r["items"]) // int(r["limit"])), r["seconds"]))
        m("")
    m("## Targets (issues 6, 11, 18 and 19)")
    m("")
    m("| target | measured | |")
    m("|---|---|---|")
    md.extend(targets)
    m("")
    m("## How to run")
    m("")
    m("`bench/run` (about 7 minutes on 2 cores%s), or `bench/run --quick` (about one). "
      "Options: `--delay-ms N` (WAN one-way delay), `--rounds N`, `--no-wan` (the batch rows "
      "too), `--no-callgrind`, `--callgrind-only` (only the instructions per call, about a "
      "minute; its report goes to `build-bench-floor/results-callgrind.md`), `--batch-only` "
      "(only issue 18's rows and the callgrind runs they are compared with, about a minute; "
      "its report goes to `build-bench-floor/results-batch.md`), `--each-only` (only issue "
      "19's `each` row, about 30 s; it replaces that row's lines in `bench/results.txt`), "
      "`--upload-only` (only issue 19's upload row, against the local server, about 30 "
      "seconds; it replaces the UPLOAD line of `bench/results.txt` and rewrites this report "
      "and `docs/speed.md` from it), `--download-only` (only issue 19's download rows, about "
      "a minute; they replace the DOWNLOAD lines of `bench/results.txt` and rewrite this "
      "report and `docs/speed.md` from it). As root "
      "it installs its Debian packages; it builds into `build-bench-*` and uses only "
      "127.0.0.1." % ("; this one took %s" % duration(meta["seconds"])
                      if "seconds" in meta else ""))
    blocks["targets"] = ["| target | measured | |", "|---|---|---|"] + targets
    blocks["run"] = ["The figures below are written by `bench/report.py` from the raw lines of one "
                     "run of `bench/run%s` (`bench/results.txt`; the whole report is "
                     "`bench/results.md`): %s." % (" --quick" if meta.get("quick") == "1" else "",
                                                    run_of(meta))]
    printed = ([""] + main_table) if len(main_table) > 2 else []
    if batch_table:
        printed += ["", "many calls at once, over a %g ms RTT:" % (2 * delay_ms), ""] + batch_table
    if wrk:
        printed += ["", "server capacity (wrk -t2 -c32, same URL, same run): %s requests/s" %
                    fmt(wrk.get("requests_per_s"))]
    printed += ["", "| target | measured | |", "|---|---|---|"] + targets
    soak_md, soak_block = soak_report(os.path.join(os.path.dirname(results_path), "soak.txt"))
    md += soak_md
    if soak_block:
        blocks["soak"] = soak_block
    return "\n".join(md) + "\n", blocks, printed


def download_summary(runs):
    """Per download client: the median MiB/s, the MiB downloaded, the runs; for mmc54, the
    median of its ratios to the curl run paired with each (the run just before or after it, in
    the same round), and the largest peak-RSS growth over its runs."""
    out, by_key = {}, defaultdict(list)
    for key, r in runs:
        r = dict(r, rate=r["bytes"] / 1048576 / r["wall"])
        by_key[key].append(r)
    for key, rows in by_key.items():
        d = {"rate": statistics.median(r["rate"] for r in rows), "runs": len(rows),
             "mib": rows[0]["bytes"] / 1048576}
        if all("cpu" in r for r in rows):
            d["cpu"] = statistics.median(r["cpu"] for r in rows)
        if all("hwm" in r and "rss0" in r for r in rows):
            worst = max(rows, key=lambda r: r["hwm"] - r["rss0"])
            d["growth"] = worst["hwm"] - worst["rss0"]
            d["growth_rss0"], d["growth_hwm"] = worst["rss0"], worst["hwm"]
        out[key] = d
    mmc, curl = by_key.get("mmc54", []), by_key.get("curlcmd", [])
    pairs = [a["rate"] / b["rate"] for a, b in zip(mmc, curl)]   # round by round
    if pairs and "mmc54" in out:
        out["mmc54"]["pairs"] = pairs
        out["mmc54"]["vs_curl"] = statistics.median(pairs)
    synced = by_key.get("curlsync", [])
    if synced and curl and "curlsync" in out:   # what the sync costs curl, for comparison
        out["curlsync"]["vs_plain"] = statistics.median(
            a["rate"] / b["rate"] for a, b in zip(synced, curl))
    return out


def soak_report(path):
    """bench/soak's runs (issue 23), from bench/soak.txt: each run's output as bench/soak
    printed it, after a line `RUN <command> | <date> | <commit>`. results.md gets every run
    whole; speed.md's `soak` block each run's summary and verdict lines."""
    if not os.path.exists(path):
        return [], None
    runs = []
    for line in open(path).read().splitlines():
        if line.startswith("RUN "):
            runs.append((line[4:], []))
        elif runs:
            runs[-1][1].append(line)
    md = ["", "## Memory over a long run (bench/soak)", "",
          "Written from `bench/soak.txt`, the output of these runs of `bench/soak` as it printed "
          "it (docs/speed.md, \"Memory over a long run\", says how to read it)."]
    block = []
    for header, lines in runs:
        md += ["", "`%s`" % header, "", "```text"] + lines + ["```"]
        block += ["`%s`:" % header, "", "```text"]
        block += [l for l in lines if l.startswith("# ") and not l.startswith("# per line")
                  or l.startswith("VERDICT")]
        block += ["```", ""]
    return md, block[:-1] if block else None


def batch_summary(many):
    """Per batch row: the median wall time of its first batches and of its later ones (in µs),
    the most connections a first batch and a later one opened, and how many runs."""
    out = {}
    for key, runs in many["batch"].items():
        first = [r for r in runs if r["batch"] == 1]
        again = [r for r in runs if r["batch"] > 1]
        if not first:
            continue
        out[key] = {
            "calls": first[0]["calls"],
            "first": statistics.median(r["wall"] for r in first) * 1e6,
            "conns": max(r["conns"] for r in first),
            "again": statistics.median(r["wall"] for r in again) * 1e6 if again else None,
            "again_conns": max(r["conns"] for r in again) if again else None,
            "batches": 1 + len(again) // len(first),
            "runs": len(first),
        }
    return out


def batch_lines(rows, batch, missing, rtt_us):
    """The batch table (results.md, speed.md's wan block, what bench/run prints)."""
    if not batch and not missing:
        return []
    seq = batch.get("seq")
    table = ["| how | first ms | first RTT | connections opened | again RTT | connections "
             "opened again | vs one after another | runs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, name, _, _, _ in rows:
        r = batch.get(key)
        if key in missing:
            table.append("| %s | **%s** | – | – | – | – | – | – |" % (name, missing[key]))
        elif r:
            table.append("| %s | %s | %s | %d | %s | %s | %s | %d |" % (
                name, fmt(r["first"] / 1000, 1), fmt(r["first"] / rtt_us, 1), r["conns"],
                fmt(r["again"] / rtt_us, 1) if r["again"] else "–",
                "%d" % r["again_conns"] if r["again_conns"] is not None else "–",
                ratio(seq["first"], r["first"], 1) if seq else "–", r["runs"]))
    return table


def duration(seconds):
    seconds = int(seconds)
    return "%dm%02ds" % (seconds // 60, seconds % 60)


def run_of(meta):
    """When, of which commit, on how loaded a machine."""
    tree = meta.get("tree", "?")
    return "%s, commit %s (%s)%s" % (
        meta.get("date", "?"), meta.get("commit", meta.get("mmc", "?")),
        "a clean tree" if tree == "clean" else "tree " + tree,
        ", load average %s at the start and %s at the end" % (
            meta["load_start"], meta.get("load_end", "?")) if "load_start" in meta else "")


BEGIN, END = "<!-- bench/report.py: ", "<!-- end of bench/report.py -->"


def with_blocks(text, blocks):
    """`text` (speed.md) with each generated block replaced by the block of that name."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line.startswith(BEGIN) and line.endswith(" -->"):
            name = line[len(BEGIN):-len(" -->")]
            while i < len(lines) and lines[i] != END:
                i += 1
            if i == len(lines):
                sys.exit("report.py: %s is not closed by %s" % (line, END))
            out.extend(blocks.get(name, ["(not measured in this run)"]))
            out.append(END)
            i += 1
    return "\n".join(out)


def main():
    check = sys.argv[1:2] == ["--check"]
    args = sys.argv[2:] if check else sys.argv[1:]
    if len(args) not in (2, 3) or (check and len(args) != 3):
        sys.exit(__doc__)
    results_path, out_path = args[:2]
    speed_path = args[2] if len(args) == 3 else None
    md, blocks, printed = report(results_path)
    speed = with_blocks(open(speed_path).read(), blocks) if speed_path else None
    if check:
        stale = [path for path, text in ((out_path, md), (speed_path, speed))
                 if open(path).read() != text]
        if stale:
            sys.exit("report.py: %s not what bench/report.py writes from %s: figures edited by "
                     "hand, or from another run (run bench/run)" % (" and ".join(stale),
                                                                      results_path))
        return
    with open(out_path, "w") as f:
        f.write(md)
    if speed_path:
        with open(speed_path, "w") as f:
            f.write(speed)
    print("\n".join(printed))
    print()
    print("bench: full results in %s%s" % (os.path.relpath(out_path),
                                           " and the figures in " + os.path.relpath(speed_path)
                                           if speed_path else ""))

main()
