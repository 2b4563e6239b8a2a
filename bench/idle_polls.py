#!/usr/bin/env python3
"""Measures what idle long polls cost: opens N connections to a running Sluice,
each with a ReceiveMessage(WaitTimeSeconds=20) on an empty queue, then reads
the daemon's CPU time (utime+stime from /proc) over a window while they wait.

    bench/idle_polls.py PORT PID [N=10000] [WINDOW_SECONDS=10]
"""
import json
import resource
import socket
import sys
import time
import urllib.request


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in ticks


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request(port, action, body):
    data = json.dumps(body).encode()
    return ("POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-amz-json-1.0\r\n"
            "X-Amz-Target: AmazonSQS.%s\r\nContent-Length: %d\r\n\r\n" % (port, action, len(data))).encode() + data


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    window = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
    req = urllib.request.Request("http://127.0.0.1:%d/" % port, data=json.dumps({"QueueName": "idle"}).encode(),
                                 headers={"Content-Type": "application/x-amz-json-1.0",
                                          "X-Amz-Target": "AmazonSQS.CreateQueue"})
    url = json.load(urllib.request.urlopen(req))["QueueUrl"]
    poll = request(port, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20})
    socks = []
    rss0 = rss_kb(pid)
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(poll)
        socks.append(s)
    time.sleep(1.0)  # let the daemon take them all in
    c0, t0 = cpu_seconds(pid), time.time()
    time.sleep(window)
    c1, t1 = cpu_seconds(pid), time.time()
    print("idle long polls: %d waiting, daemon CPU %.3f s over %.1f s (%.2f%% of a core), RSS %d -> %d kB"
          % (n, c1 - c0, t1 - t0, 100.0 * (c1 - c0) / (t1 - t0), rss0, rss_kb(pid)))
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
