#!/usr/bin/env python3
"""bench/swarm/summary.py: the markdown table of a bench/swarm/run.sh run.

Reads the sessions' JSON lines (player.py's report plus client, cpu_s,
wall_s, net_rx_bytes) and prints, per client, medians over sessions:
startup, post-seek resume (median over every seek of every session; a seek
that never resumed counts as the rest of its session), rebuffers (count and
total seconds; and how many began after the first 30 s), bytes downloaded
per byte played and CPU. Usage: summary.py SESSIONS.jsonl "setting text"
"""

import json
import statistics
import sys


def med(xs):
    return statistics.median(xs) if xs else None


def ms(x):
    return "-" if x is None else "%.0f" % (x * 1000)


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    setting = sys.argv[2] if len(sys.argv) > 2 else ""
    clients = []
    for r in rows:
        if r["client"] not in clients:
            clients.append(r["client"])
    print()
    print("### What a viewer feels: %s" % setting)
    print()
    print("| client | sessions | startup ms | post-seek median ms | seeks not resumed | rebuffers | rebuffer s "
          "| rebuffers after 30 s | downloaded / played | CPU % of a core |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in clients:
        rs = [r for r in rows if r["client"] == c]
        startup = med([r["startup_s"] if r["startup_s"] is not None else r["duration_s"] for r in rs])
        resumes, lost = [], 0
        for r in rs:
            for i, s in enumerate(r["seeks"]):
                if s["resume_s"] is None:
                    lost += 1
                    end = r["seeks"][i + 1]["at_s"] if i + 1 < len(r["seeks"]) else r["duration_s"]
                    resumes.append(end - s["at_s"])
                else:
                    resumes.append(s["resume_s"])
        waste = med([r["net_rx_bytes"] / r["played_bytes"] for r in rs if r["played_bytes"] > 0])
        cpu = med([100 * r["cpu_s"] / r["wall_s"] for r in rs if r["wall_s"] > 0])
        print("| %s | %d | %s | %s | %d | %s | %.1f | %s | %s | %s |" % (
            c, len(rs), ms(startup), ms(med(resumes)), lost,
            "%g" % med([r["rebuffer_count"] for r in rs]), med([r["rebuffer_total_s"] for r in rs]),
            "%g" % med([r["rebuffers_after_30s"] for r in rs]),
            "-" if waste is None else "%.2f" % waste, "-" if cpu is None else "%.0f" % cpu))
    print()
    print("Every session (client: startup s, seek resumes s, rebuffers [start s, length s]):")
    print()
    print("```")
    for r in rows:
        print("%s #%d: startup %s, seeks %s, rebuffers %s, played %d B, downloaded %d B, HTTP errors %s" % (
            r["client"], r["session"], r["startup_s"], [s["resume_s"] for s in r["seeks"]],
            [[round(a, 2), round(b, 2)] for a, b in r["rebuffers"]], r["played_bytes"], r["net_rx_bytes"],
            r.get("http_errors") or "none"))
    print("```")


if __name__ == "__main__":
    main()
