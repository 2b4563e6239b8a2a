#!/usr/bin/env python3
"""What the operational paths cost the loop thread: GET /metrics on a daemon
with many queues, and GET /_sluice/trace/{id} on a full trace journal.

  bench/ops.py [--queues N] [--journal ENTRIES] [--port P]

Starts build/sluice on a fresh data directory (trace.journal_entries as
given), creates N queues and sends one message to each, then times 20
scrapes of /metrics (median and max, and the answer's size). It then fills
the journal past its capacity with build/sluice-bench fill (each message is
one hop), sends one more message and times 20 lookups of it and 20 of an id the
journal does not hold (both scan the whole ring). Every process it starts is
stopped at the end; the run is bounded by its counts."""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sqs(conn, action, body):
    conn.request("POST", "/", json.dumps(body), {"X-Amz-Target": "AmazonSQS." + action,
                                                  "Content-Type": "application/x-amz-json-1.0"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit("%s: %d %s" % (action, r.status, data[:200]))
    return json.loads(data)


def timed_get(conn, path, times=20):
    ms, size = [], 0
    for _ in range(times):
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        ms.append((time.perf_counter() - t0) * 1000)
        size = len(body)
        if r.status != 200:
            sys.exit("GET %s: %d %s" % (path, r.status, body[:200]))
    return statistics.median(ms), max(ms), size, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queues", type=int, default=1000)
    ap.add_argument("--journal", type=int, default=65536)
    ap.add_argument("--port", type=int, default=14599)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sluice-ops-")
    cfg = os.path.join(tmp, "sluice.yaml")
    with open(cfg, "w") as f:
        f.write("trace:\n  journal_entries: %d\n" % a.journal)
    daemon = subprocess.Popen([os.path.join(ROOT, "build", "sluice"), "serve", "--port", str(a.port), "--data",
                               os.path.join(tmp, "data"), "--config", cfg, "--log-level", "warn"],
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
                c.request("GET", "/health")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=120)
        for i in range(a.queues):
            url = sqs(conn, "CreateQueue", {"QueueName": "ops-%05d" % i})["QueueUrl"]
            sqs(conn, "SendMessage", {"QueueUrl": url, "MessageBody": "m"})
        med, top, size, _ = timed_get(conn, "/metrics")
        print("metrics  queues=%d scrapes=20 median=%.2fms max=%.2fms bytes=%d" % (a.queues, med, top, size))
        # one hop per message sent: a little more than the ring holds fills it
        subprocess.run([os.path.join(ROOT, "build", "sluice-bench"), "-c", "32", "-n", str(a.journal + a.journal // 8),
                        "127.0.0.1:%d" % a.port, "fill"], check=True, stdout=subprocess.DEVNULL)
        url = sqs(conn, "GetQueueUrl", {"QueueName": "ops-00000"})["QueueUrl"]
        mid = sqs(conn, "SendMessage", {"QueueUrl": url, "MessageBody": "traced"})["MessageId"]
        med, top, _, body = timed_get(conn, "/_sluice/trace/" + mid)
        doc = json.loads(body)
        print("trace    journal=%d found=%d lookups=20 median=%.2fms max=%.2fms" % (
            doc["journalEntries"], len(doc["hops"]), med, top))
        med, top, _, _ = timed_get(conn, "/_sluice/trace/no-such-id")
        print("trace    journal=%d absent id lookups=20 median=%.2fms max=%.2fms" % (a.journal, med, top))
    finally:
        daemon.terminate()
        daemon.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
