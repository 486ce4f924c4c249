#!/usr/bin/env python3
"""Where the gateway's CPU goes: `perf script` output (cpu-clock samples with DWARF call stacks) on stdin, a
table on stdout. Each sample is put in the first bucket whose pattern matches one of its frames (leaf to root
order does not matter: the buckets are ordered from specific to general), and split into user and kernel time.

    perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -p PID -- sleep 10
    perf script | bench/profile.py
"""

import re
import sys
from collections import Counter

# (bucket, thread-name pattern or None, symbol pattern or None): first match wins. Thread patterns search the
# thread name; symbol patterns match from the start of a frame's symbol.
BUCKETS = [
    ("SQLite writer thread: SQL execution (sqlite3_*)", r"^wxrn-sqlite", r"sqlite3|walChecksum|pcache1|btree"),
    ("SQLite writer thread: batching, hashing, answering", r"^wxrn-sqlite", None),
    ("auth: API-key lookup (SQLite read)", None, r"<gateway::auth::Caller as"),
    ("policy: replay-guard read, rate limiter", None, r"gateway::routes::verify::(refusal|rate_limits)"),
    ("WeChat call (reqwest, token provider, client connections)", None,
     r"<?(wechat|reqwest|hyper_util::client|hyper::client)::"),
    ("record: audit append (queue + wait) and response JSON", None, r"gateway::routes::verify::record"),
    ("store: queueing writes, other reads", None, r"<?store::"),
    ("rest of the verification handler (parse, validate, blind index)", None, r"<?gateway::routes::verify::"),
    ("logging (tracing)", None, r"<?(tracing_subscriber|tracing_core)::"),
    ("HTTP server (hyper/axum around the handler)", None, r"<?(axum::serve|hyper::proto::h1)"),
    ("tokio scheduler, idle, wake-ups", None, r"<?tokio::runtime"),
    ("other", None, None),
]


def samples(lines):
    head, frames = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if head is not None:
                yield head, frames
            head, frames = None, []
        elif head is None:
            head = line
        else:
            frames.append(line.strip())
    if head is not None:
        yield head, frames


def main():
    counts, kernel, total = Counter(), Counter(), 0
    compiled = [(b, t and re.compile(t), f and re.compile(f)) for b, t, f in BUCKETS]
    for head, frames in samples(sys.stdin):
        comm = head.split()[0] if head.split() else ""
        total += 1
        # A frame reads "address symbol+offset (dso)"; patterns match from the symbol's start, so a type
        # parameter that merely mentions a path (handler generics name every extractor) does not count.
        symbols = [f.split(" ", 1)[1] if " " in f else f for f in frames]
        for bucket, tpat, fpat in compiled:
            if tpat and not tpat.search(comm):
                continue
            if fpat and not any(fpat.match(sym) for sym in symbols):
                continue
            counts[bucket] += 1
            if frames and "[kernel.kallsyms]" in frames[0]:
                kernel[bucket] += 1
            break
    if total == 0:
        print("no samples")
        return
    print(f"{total} samples")
    print("| where | share of gateway CPU | of which in the kernel |")
    print("| --- | ---: | ---: |")
    for bucket, _, _ in BUCKETS:
        n = counts[bucket]
        if n:
            print(f"| {bucket} | {100 * n / total:.1f}% | {100 * kernel[bucket] / n:.0f}% |")
    k = sum(kernel.values())
    print(f"| **all** | 100% | {100 * k / total:.0f}% |")


if __name__ == "__main__":
    main()
