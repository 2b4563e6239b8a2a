"""GET /metrics and GET /ready (docs/METRICS.md): real traffic — SQS send,
receive and delete, a publish one subscription's filter policy turns away,
a function invocation over the Lambda API — then the exposition, read with
a strict parser of the Prometheus text format 0.0.4, must count exactly
that. Gateway routes (every answer by status, and the duration
histogram), tables (the exact gets, queries, scans and puts of the
gateway, the tables view and function destinations), dead-letter moves
and http subscription deliveries (retried, failed, delivered) are driven
the same way and counted exactly. A real Prometheus (Debian's
`prometheus`, when installed) scrapes the daemon, with the operations
token as its bearer credentials, and must see the same value. The token
(auth.ops_token_env) guards /metrics and traces, never /health or /ready,
and the command-line clients send it from SLUICE_OPS_TOKEN."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from fn_truth import SLOW, FunctionsTestCase, drain, http_get, queue_url, str_attr, table_scan, timeout
from sluice_harness import SLUICE_BIN, free_port
from sns_truth import Endpoint

OPS_VAR = "SLUICE_TEST_OPS_TOKEN"
OPS_TOKEN = "s3cr3t-0ps-t0ken-for-tests"

CONFIG = """
queues:
  - name: work
  - name: even
  - name: odd
topics:
  - name: numbers
    subscriptions:
      - queue: even
        filter_policy: { parity: [even] }
      - queue: odd
        filter_policy: { parity: [odd] }
functions:
  - name: echo
    kind: http
    handler: %(url)s
    timeout: 5
    memory: 256
"""

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)\})? (\S+)$" % (NAME, LABEL, LABEL))
UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse(text):
    """Parses an exposition strictly: every line a HELP, a TYPE or a sample
    of the family last declared; returns ({family: type}, {(name,
    frozenset(labels)): value}). Raises ValueError on anything else."""
    types, samples, family = {}, {}, None
    if not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split(" ", 3)[2]
            if family in types:
                raise ValueError("family %s declared twice" % family)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            if name != family or kind not in ("counter", "gauge", "histogram"):
                raise ValueError("bad TYPE line: %r" % line)
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("not a sample line: %r" % line)
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name) if types.get(family) == "histogram" else name
        if base != family:
            raise ValueError("sample %s outside its family (%s)" % (name, family))
        labels = frozenset((k, re.sub(r'\\[\\"n]', lambda e: UNESCAPE[e.group(0)], v))
                           for k, v in re.findall(LABEL, m.group(2) or ""))
        key = (name, labels)
        if key in samples:
            raise ValueError("duplicate sample %r" % (key,))
        samples[key] = float(m.group(m.lastindex))
    return types, samples


def scrape(s):
    with urllib.request.urlopen(s.endpoint + "/metrics", timeout=5) as r:
        ctype = r.headers["Content-Type"]
        return ctype, r.read().decode()


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def check_histograms(tc, types, samples):
    """Buckets are cumulative, end with +Inf, and +Inf equals _count."""
    for fam, kind in types.items():
        if kind != "histogram":
            continue
        series = {}
        for (name, labels), v in samples.items():
            if name == fam + "_bucket":
                rest = frozenset(kv for kv in labels if kv[0] != "le")
                le = dict(labels)["le"]
                series.setdefault(rest, []).append((float("inf") if le == "+Inf" else float(le), v))
        for rest, buckets in series.items():
            buckets.sort()
            counts = [c for _, c in buckets]
            tc.assertEqual(counts, sorted(counts), "%s %s not cumulative" % (fam, dict(rest)))
            tc.assertEqual(buckets[-1][0], float("inf"))
            tc.assertEqual(samples[(fam + "_count", rest)], buckets[-1][1])


class Metrics(FunctionsTestCase):
    def test_counters_and_gauges_follow_traffic(self):
        srv = self.fn_server(lambda event, n: {"echo": event})
        s = self.daemon(CONFIG % {"url": srv.url})
        sqs, sns, lam = s.client(), s.client("sns"), s.client("lambda")
        work = queue_url(sqs, "work")
        for i in range(3):
            sqs.send_message(QueueUrl=work, MessageBody="m%d" % i)
        sqs.send_message(QueueUrl=work, MessageBody="later", DelaySeconds=60)
        got = sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=2, VisibilityTimeout=60)["Messages"]
        self.assertEqual(len(got), 2)
        sqs.delete_message(QueueUrl=work, ReceiptHandle=got[0]["ReceiptHandle"])
        topic = sns.create_topic(Name="numbers")["TopicArn"]
        sns.publish(TopicArn=topic, Message="2", MessageAttributes={"parity": str_attr("even")})
        out = lam.invoke(FunctionName="echo", Payload=json.dumps({"x": 1}).encode())
        self.assertEqual(json.loads(out["Payload"].read()), {"echo": {"x": 1}})

        ctype, text = scrape(s)
        self.assertEqual(ctype.split(";")[0], "text/plain")
        self.assertIn("version=0.0.4", ctype)
        types, m = parse(text)
        check_histograms(self, types, m)
        self.assertEqual(value(m, "sluice_queue_sent_total", queue="work"), 4)
        self.assertEqual(value(m, "sluice_queue_received_total", queue="work"), 2)
        self.assertEqual(value(m, "sluice_queue_deleted_total", queue="work"), 1)
        self.assertEqual(value(m, "sluice_queue_dead_lettered_total", queue="work"), 0)
        self.assertEqual(value(m, "sluice_queue_messages", queue="work", state="visible"), 1)
        self.assertEqual(value(m, "sluice_queue_messages", queue="work", state="inflight"), 1)
        self.assertEqual(value(m, "sluice_queue_messages", queue="work", state="delayed"), 1)
        self.assertGreaterEqual(value(m, "sluice_queue_oldest_message_age_seconds", queue="work"), 0)
        self.assertEqual(value(m, "sluice_queue_oldest_message_age_seconds", queue="odd"), 0)
        self.assertEqual(value(m, "sluice_sqs_requests_total", action="SendMessage"), 4)
        self.assertEqual(value(m, "sluice_sqs_requests_total", action="DeleteMessage"), 1)
        # the publish reached "even" through the topic and was filtered from "odd"
        self.assertEqual(value(m, "sluice_queue_sent_total", queue="even"), 1)
        self.assertEqual(value(m, "sluice_sns_publishes_total", topic="numbers"), 1)
        deliveries = dict(topic="numbers", protocol="sqs")
        self.assertEqual(value(m, "sluice_subscription_deliveries_total", outcome="delivered", **deliveries), 1)
        self.assertEqual(value(m, "sluice_subscription_deliveries_total", outcome="filtered", **deliveries), 1)
        self.assertEqual(value(m, "sluice_subscription_deliveries_total", outcome="failed", **deliveries), 0)
        self.assertEqual(value(m, "sluice_function_invocations_total", function="echo"), 1)
        self.assertEqual(value(m, "sluice_function_errors_total", function="echo"), 0)
        self.assertEqual(value(m, "sluice_function_memory_mb", function="echo"), 256)
        self.assertEqual(value(m, "sluice_function_duration_seconds_count", function="echo"), 1)
        self.assertGreaterEqual(value(m, "sluice_store_fsync_duration_seconds_count"), 1)
        self.assertGreaterEqual(value(m, "sluice_store_batch_records_count"), 1)
        self.assertGreater(value(m, "sluice_store_log_bytes"), 0)
        self.assertGreater(value(m, "sluice_process_resident_memory_bytes"), 1 << 20)
        self.assertGreaterEqual(value(m, "sluice_http_open_connections"), 1)
        self.assertEqual(value(m, "sluice_http_requests_shed_total"), 0)
        for fam in ("sluice_function_duration_seconds", "sluice_store_fsync_duration_seconds",
                    "sluice_route_duration_seconds", "sluice_mapping_batch_size", "sluice_store_batch_records"):
            self.assertEqual(types[fam], "histogram")

    def test_mapping_batch_size_and_lag(self):
        calls = []
        srv = self.fn_server(lambda event, n: calls.append(len(event["Records"])) or {})
        s = self.daemon("queues:\n  - name: mapped\nfunctions:\n  - name: consumer\n    kind: http\n"
                        "    handler: %s\n    timeout: 5\nmappings:\n  - function: consumer\n    queue: mapped\n"
                        "    batch_size: 10\n    batching_window: 1\n" % srv.url)
        sqs = s.client()
        url = queue_url(sqs, "mapped")
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "r%d" % i} for i in range(4)])
        deadline = time.time() + 15
        m = {}
        while time.time() < deadline:
            types, m = parse(scrape(s)[1])
            if (value(m, "sluice_mapping_lag_seconds_count", function="consumer", queue="mapped") or 0) >= 4:
                break
            time.sleep(0.2)
        self.assertEqual(types["sluice_mapping_lag_seconds"], "histogram")
        self.assertEqual(value(m, "sluice_mapping_lag_seconds_count", function="consumer", queue="mapped"), 4)
        self.assertEqual(value(m, "sluice_mapping_batch_size_sum", function="consumer", queue="mapped"), 4)
        lag = value(m, "sluice_mapping_lag_seconds_sum", function="consumer", queue="mapped")
        self.assertGreaterEqual(lag, 0)
        self.assertLess(lag, 4 * 15)  # each record waited at most the test's own wait
        check_histograms(self, types, m)

    def test_ready_and_health(self):
        s = self.daemon("queues:\n  - name: q\n")
        with urllib.request.urlopen(s.endpoint + "/ready", timeout=5) as r:
            self.assertEqual((r.status, json.loads(r.read())), (200, {"status": "ready"}))
        with urllib.request.urlopen(s.endpoint + "/health", timeout=5) as r:
            self.assertEqual(json.loads(r.read()), {"status": "ok"})


# ---- routes, tables, dead letters, endpoint deliveries --------------------------------------------------

CLIENT_KEY = "metrics-client-key-0001"
LIMITED_KEY = "metrics-limited-key-0002"


def sha(key):
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def call(s, method, path, body=None, headers=None):
    """(status, parsed JSON body or None) of one plain HTTP request; body
    bytes go as they are, anything else as JSON."""
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(s.endpoint + path, data=data, method=method,
                                 headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw


def metrics(s):
    return parse(scrape(s)[1])[1]


def series(m, name, **labels):
    """{the remaining labels: value} of every sample of name carrying labels."""
    want = set(labels.items())
    return {frozenset(kv for kv in ls if kv[0] not in labels): v for (n, ls), v in m.items()
            if n == name and want <= set(ls)}


def route_codes(m, route):
    """{code: count} of sluice_route_requests_total for the route."""
    return {dict(ls)["code"]: v for ls, v in series(m, "sluice_route_requests_total", route=route).items()}


def table_counts(m):
    """{table: (reads, writes)} of every table the exposition shows."""
    reads = {dict(ls)["table"]: v for ls, v in series(m, "sluice_table_reads_total").items()}
    writes = {dict(ls)["table"]: v for ls, v in series(m, "sluice_table_writes_total").items()}
    assert set(reads) == set(writes), (reads, writes)
    return {t: (reads[t], writes[t]) for t in reads}


ROUTES_CONFIG = """
queues:
  - name: orders-in
gateway:
  usage_plans:
    - name: open
    - name: tiny
      quota: 2
      period: MONTH
  api_keys:
    - name: client
      hash: %(client)s
      plan: open
    - name: limited
      hash: %(limited)s
      plan: tiny
  routes:
    - method: POST
      path: /orders
      integration: enqueue
      queue: orders-in
      api_key: true
      sla: 300
      schema:
        type: object
        required: [item]
        properties:
          item: { type: string }
          qty: { type: integer, minimum: 1 }
    - method: GET
      path: /response
      integration: result
      id_from: header.requestId
"""

TABLES_CONFIG = """
queues:
  - name: jobs
tables:
  - name: things
    partition_key: id
    indexes: [color]
  - name: outcomes
    partition_key: requestId
functions:
  - name: maker
    kind: http
    handler: %(maker)s
    timeout: 5
    on_success: items:things
  - name: recorder
    kind: http
    handler: %(recorder)s
    timeout: 5
    on_success: table:outcomes
gateway:
  routes:
    - method: POST
      path: /jobs
      integration: enqueue
      queue: jobs
      sla: 300
    - method: GET
      path: /things/{id}
      integration: item
      table: things
      key: path.id
    - method: GET
      path: /colors/{color}
      integration: item
      table: things
      index: color
      key: path.color
"""

# Every retry at once (numNoDelayRetries = numRetries): the test never waits on minDelayTarget.
QUICK = ("{ healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 1, numRetries: %d, numNoDelayRetries: %d, "
         "numMinDelayRetries: 0, numMaxDelayRetries: 0, backoffFunction: linear } }")

DELIVERIES_CONFIG = """
queues:
  - name: broken-dlq
topics:
  - name: flaky
    subscriptions:
      - protocol: http
        endpoint: %(flaky)s
        delivery_policy: %(three)s
  - name: broken
    subscriptions:
      - protocol: http
        endpoint: %(broken)s
        delivery_policy: %(two)s
        dead_letter_queue: broken-dlq
  - name: rejecting
    subscriptions:
      - protocol: http
        endpoint: %(rejecting)s
        delivery_policy: %(two)s
"""


class RouteAndTableMetrics(FunctionsTestCase):
    def test_route_requests_by_code_and_duration(self):
        """sluice_route_requests_total{route,code} counts each answer of a
        declared route exactly once under its status — accepted, refused
        for its key, its quota and its schema — and the duration histogram
        observes each of them; /_sluice/requests/{id} is no route."""
        t0 = time.time()
        s = self.daemon(ROUTES_CONFIG % {"client": sha(CLIENT_KEY), "limited": sha(LIMITED_KEY)})
        m = metrics(s)
        self.assertEqual(route_codes(m, "POST /orders"), {})  # no answer yet, no series
        self.assertEqual(value(m, "sluice_route_duration_seconds_count", route="POST /orders"), 0)
        client = {"x-api-key": CLIENT_KEY}
        ids = []
        for i in range(3):
            status, doc = call(s, "POST", "/orders", {"item": "book-%d" % i, "qty": 1}, client)
            self.assertEqual(status, 202, doc)
            ids.append(doc["requestId"])
        for body in ({"qty": 1}, {"item": "x", "qty": 0}, b"{not json"):
            status, doc = call(s, "POST", "/orders", body, client)
            self.assertEqual((status, doc["message"]), (400, "Invalid request body"), doc)
        for headers in ({}, {"x-api-key": "not-a-key-of-this-gateway"}):
            status, doc = call(s, "POST", "/orders", {"item": "x"}, headers)
            self.assertEqual((status, doc), (403, {"message": "Forbidden"}))
        limited = {"x-api-key": LIMITED_KEY}
        for _ in range(2):
            self.assertEqual(call(s, "POST", "/orders", {"item": "y"}, limited)[0], 202)
        status, doc = call(s, "POST", "/orders", {"item": "y"}, limited)
        self.assertEqual((status, doc), (429, {"message": "Limit Exceeded"}))
        # the result route: a pending record (202), an unknown id (404), no id (400)
        self.assertEqual(call(s, "GET", "/response", headers={"requestId": ids[0]})[0], 202)
        self.assertEqual(call(s, "GET", "/response", headers={"requestId": "no-such-request"})[0], 404)
        self.assertEqual(call(s, "GET", "/response")[0], 400)

        types, m = parse(scrape(s)[1])
        check_histograms(self, types, m)
        self.assertEqual(types["sluice_route_requests_total"], "counter")
        self.assertEqual(types["sluice_route_duration_seconds"], "histogram")
        self.assertEqual(route_codes(m, "POST /orders"), {"202": 5, "400": 3, "403": 2, "429": 1})
        self.assertEqual(route_codes(m, "GET /response"), {"202": 1, "404": 1, "400": 1})
        self.assertEqual({dict(ls)["route"] for ls in series(m, "sluice_route_requests_total")},
                         {"POST /orders", "GET /response"})
        self.assertEqual(value(m, "sluice_route_duration_seconds_count", route="POST /orders"), 11)
        self.assertEqual(value(m, "sluice_route_duration_seconds_count", route="GET /response"), 3)
        for route in ("POST /orders", "GET /response"):
            total = value(m, "sluice_route_duration_seconds_sum", route=route)
            self.assertGreaterEqual(total, 0)
            self.assertLessEqual(total, time.time() - t0)  # each one within the test's own time
        # the accepted work reached the queue: 5 sends
        self.assertEqual(value(m, "sluice_queue_sent_total", queue="orders-in"), 5)

        # the gateway's own status path is not a route: no route series moves
        self.assertEqual(call(s, "GET", "/_sluice/requests/" + ids[1])[0], 202)
        self.assertEqual(call(s, "GET", "/_sluice/requests/no-such-request")[0], 404)
        after = metrics(s)
        self.assertEqual(series(after, "sluice_route_requests_total"), series(m, "sluice_route_requests_total"))
        self.assertEqual(series(after, "sluice_route_duration_seconds_count"),
                         series(m, "sluice_route_duration_seconds_count"))

    def test_table_reads_and_writes(self):
        """sluice_table_reads_total / sluice_table_writes_total move by
        exactly the gets, index queries, scans and puts each path makes,
        and no other table's count moves."""
        maker = self.fn_server(lambda event, n: {"id": event["id"], "color": event["color"]})
        recorder = self.fn_server(lambda event, n: {"seen": event})
        s = self.daemon(TABLES_CONFIG % {"maker": maker.url, "recorder": recorder.url})
        lam = s.client("lambda")
        tables = table_counts(metrics(s))
        self.assertEqual(set(tables), {"things", "outcomes", "requests", "requests.idempotency"})
        self.assertEqual(set(tables.values()), {(0, 0)})
        state = {"now": tables}

        def step(what, act, expect, settle=None):
            """Runs act; then every table's (reads, writes) must have moved
            by expect (table: (reads, writes)) and no other table's at all.
            settle waits for asynchronous work to show in the counters."""
            before = state["now"]
            out = act()
            if settle:
                self.wait(lambda: settle(table_counts(metrics(s)), before), 15, what)
            now = table_counts(metrics(s))
            want = {t: (r + expect.get(t, (0, 0))[0], w + expect.get(t, (0, 0))[1]) for t, (r, w) in before.items()}
            self.assertEqual(now, want, what)
            state["now"] = now
            return out

        # an accepted request: its record is one put into the results table
        status, doc = step("accept", lambda: call(s, "POST", "/jobs", {"n": 1}), {"requests": (0, 1)})
        self.assertEqual(status, 202)
        first = doc["requestId"]
        # with an Idempotency-Key: one get of the key, the record's put, the key's put
        key = {"Idempotency-Key": "idem-metrics-1"}
        status, doc = step("accept with a new key", lambda: call(s, "POST", "/jobs", {"n": 2}, key),
                           {"requests.idempotency": (1, 1), "requests": (0, 1)})
        self.assertEqual(status, 202)
        again = doc["requestId"]
        # the same key again: the key's get and the earlier record's get, nothing written
        status, doc = step("accept a repeated key", lambda: call(s, "POST", "/jobs", {"n": 2}, key),
                           {"requests.idempotency": (1, 0), "requests": (1, 0)})
        self.assertEqual((status, doc["requestId"]), (202, again))
        # result polling: one get each, found or not
        status, _ = step("poll a record", lambda: call(s, "GET", "/_sluice/requests/" + first), {"requests": (1, 0)})
        self.assertEqual(status, 202)
        status, _ = step("poll an unknown id", lambda: call(s, "GET", "/_sluice/requests/nope"), {"requests": (1, 0)})
        self.assertEqual(status, 404)
        # the tables view: an item get, a scan page; the list of tables reads none
        status, doc = step("view an item", lambda: http_get(s.endpoint, "/_sluice/tables/requests/items/" + first),
                           {"requests": (1, 0)})
        self.assertEqual((status, doc["requestId"]), (200, first))
        status, doc = step("view a scan page", lambda: http_get(s.endpoint, "/_sluice/tables/requests?limit=1"),
                           {"requests": (1, 0)})
        self.assertEqual((status, len(doc["Items"]), doc.get("More")), (200, 1, True))
        status, _ = step("list the tables", lambda: http_get(s.endpoint, "/_sluice/tables"), {})
        self.assertEqual(status, 200)

        def wrote(table):
            return lambda now, before: now[table][1] > before[table][1]
        # an items: destination puts the result; the request tracker looks the Lambda
        # request id up in the results table (one get, nothing written: no such record)
        step("an items: destination", lambda: lam.invoke(FunctionName="maker", InvocationType="Event",
                                                         Payload=json.dumps({"id": "t1", "color": "red"}).encode()),
             {"things": (0, 1), "requests": (1, 0)}, settle=wrote("things"))
        # a table: destination reads the record it merges into, then puts it
        step("a table: destination", lambda: lam.invoke(FunctionName="recorder", InvocationType="Event",
                                                        Payload=b'{"x": 1}'),
             {"outcomes": (1, 1), "requests": (1, 0)}, settle=wrote("outcomes"))
        items = step("scan the outcomes", lambda: table_scan(s.endpoint, "outcomes"), {"outcomes": (1, 0)})
        self.assertEqual([(i["status"], i["result"]) for i in items], [("SUCCEEDED", {"seen": {"x": 1}})])
        # the tables view's index query, and the gateway's item routes (by key, by index; found or not)
        status, doc = step("view an index query",
                           lambda: http_get(s.endpoint, "/_sluice/tables/things/index/color/red"), {"things": (1, 0)})
        self.assertEqual((status, doc["Items"]), (200, [{"id": "t1", "color": "red"}]))
        status, doc = step("item route", lambda: call(s, "GET", "/things/t1"), {"things": (1, 0)})
        self.assertEqual((status, doc), (200, {"id": "t1", "color": "red"}))
        status, _ = step("item route, no such item", lambda: call(s, "GET", "/things/t2"), {"things": (1, 0)})
        self.assertEqual(status, 404)
        status, doc = step("item route by index", lambda: call(s, "GET", "/colors/red"), {"things": (1, 0)})
        self.assertEqual((status, doc["id"]), (200, "t1"))


class DeadLetterAndDeliveryMetrics(FunctionsTestCase):
    def test_queue_dead_lettered(self):
        """Each message a receive moves to the dead-letter queue counts once
        in sluice_queue_dead_lettered_total of its source queue."""
        s = self.daemon("queues:\n  - name: work-dlq\n  - name: work\n"
                        "    redrive: { dead_letter_queue: work-dlq, max_receive_count: 2 }\n")
        sqs = s.client()
        work, dlq = queue_url(sqs, "work"), queue_url(sqs, "work-dlq")
        for i in range(3):
            sqs.send_message(QueueUrl=work, MessageBody="m%d" % i)
        received = []

        def moved():  # receive without deleting, visible again at once, until all three moved
            received.extend(sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10, VisibilityTimeout=0)
                            .get("Messages", []))
            return value(metrics(s), "sluice_queue_messages", queue="work-dlq", state="visible") == 3
        self.wait(moved, 20, "three messages in work-dlq")
        m = metrics(s)
        self.assertEqual(value(m, "sluice_queue_dead_lettered_total", queue="work"), 3)
        self.assertEqual(value(m, "sluice_queue_dead_lettered_total", queue="work-dlq"), 0)
        # maxReceiveCount 2: each was handed out exactly twice before the receive that moved it
        self.assertEqual(len(received), 6)
        self.assertEqual(sorted(r["Body"] for r in received), ["m0", "m0", "m1", "m1", "m2", "m2"])
        self.assertEqual(value(m, "sluice_queue_received_total", queue="work"), 6)
        self.assertEqual(value(m, "sluice_queue_sent_total", queue="work"), 3)
        self.assertEqual(value(m, "sluice_queue_deleted_total", queue="work"), 0)
        for state in ("visible", "inflight", "delayed"):
            self.assertEqual(value(m, "sluice_queue_messages", queue="work", state=state), 0, state)
        self.assertEqual(value(m, "sluice_queue_messages", queue="work-dlq", state="visible"), 3)
        self.assertEqual(value(m, "sluice_queue_messages", queue="work-dlq", state="inflight"), 0)
        # a move is not a send (docs/METRICS.md lists sends, batch entries, topic fan-out and
        # gateway enqueues; AWS's NumberOfMessagesSent leaves redrive moves out too)
        self.assertEqual(value(m, "sluice_queue_sent_total", queue="work-dlq"), 0)
        self.assertEqual(value(m, "sluice_queue_received_total", queue="work-dlq"), 0)
        got = drain(sqs, dlq, 3, wait=timeout(10))
        self.assertEqual(sorted(g["Body"] for g in got), ["m0", "m1", "m2"])
        m = metrics(s)
        self.assertEqual(value(m, "sluice_queue_dead_lettered_total", queue="work"), 3)  # a DLQ receive moves nothing
        self.assertEqual(value(m, "sluice_queue_received_total", queue="work-dlq"), 3)
        self.assertEqual(value(m, "sluice_queue_deleted_total", queue="work-dlq"), 3)

    def test_subscription_deliveries_retried_failed_delivered(self):
        """An http endpoint that fails twice then takes the message: 2
        retried, 1 delivered. One that always fails (5xx): numRetries
        retried, 1 failed, the message in the subscription's dead-letter
        queue. One that answers 4xx: 1 failed at once, nothing retried."""
        flaky, broken, rejecting = Endpoint(fail_first=2), Endpoint(fail_always=True), \
            Endpoint(fail_always=True, fail_status=403)
        for e in (flaky, broken, rejecting):
            self.addCleanup(e.close)
        s = self.daemon(DELIVERIES_CONFIG % {"flaky": flaky.url, "broken": broken.url, "rejecting": rejecting.url,
                                             "three": QUICK % (3, 3), "two": QUICK % (2, 2)})
        sns, sqs = s.client("sns"), s.client()
        m = metrics(s)
        for topic in ("flaky", "broken", "rejecting"):  # nothing yet: no series
            self.assertEqual(series(m, "sluice_subscription_deliveries_total", topic=topic), {}, topic)
        mids = {}
        for topic in ("flaky", "broken", "rejecting"):
            arn = sns.create_topic(Name=topic)["TopicArn"]
            mids[topic] = sns.publish(TopicArn=arn, Message="to " + topic)["MessageId"]

        def outcomes(m, topic):
            found = series(m, "sluice_subscription_deliveries_total", topic=topic, protocol="http")
            return {dict(ls)["outcome"]: v for ls, v in found.items()}

        def settled():
            m = metrics(s)
            done = (outcomes(m, "flaky").get("delivered") == 1 and outcomes(m, "broken").get("failed") == 1
                    and outcomes(m, "rejecting").get("failed") == 1)
            return m if done else None
        self.wait(settled, 30, lambda: {t: outcomes(metrics(s), t) for t in mids})
        time.sleep(0.5 * SLOW)  # anything further would be an attempt too many
        m = metrics(s)
        self.assertEqual(outcomes(m, "flaky"), {"delivered": 1, "filtered": 0, "retried": 2, "failed": 0})
        self.assertEqual(outcomes(m, "broken"), {"delivered": 0, "filtered": 0, "retried": 2, "failed": 1})
        self.assertEqual(outcomes(m, "rejecting"), {"delivered": 0, "filtered": 0, "retried": 0, "failed": 1})
        for topic in mids:
            self.assertEqual(value(m, "sluice_sns_publishes_total", topic=topic), 1)
            # only http's four series: another protocol's appear once one of them is non-zero
            self.assertEqual({dict(ls)["protocol"] for ls in series(m, "sluice_subscription_deliveries_total",
                                                                    topic=topic)}, {"http"})
        # the endpoints saw as many attempts as the counts say
        self.assertEqual(len(flaky.of_type("Notification")), 3)
        self.assertEqual(len(broken.of_type("Notification")), 3)
        self.assertEqual(len(rejecting.of_type("Notification")), 1)
        # the given-up message went to broken's dead-letter queue; rejecting has none (dropped)
        self.assertEqual(value(m, "sluice_queue_messages", queue="broken-dlq", state="visible"), 1)
        self.assertEqual(value(m, "sluice_queue_sent_total", queue="broken-dlq"), 1)  # SNS sends it there
        got = drain(sqs, queue_url(sqs, "broken-dlq"), 1, wait=timeout(10))
        self.assertEqual([json.loads(g["Body"])["MessageId"] for g in got], [mids["broken"]])


class OpsToken(FunctionsTestCase):
    def get(self, s, path, token=None):
        req = urllib.request.Request(s.endpoint + path, headers={"Authorization": token} if token else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def cli(self, s, *args, token=None):
        env = dict(os.environ, SLUICE_ENDPOINT=s.endpoint)
        env.pop("SLUICE_OPS_TOKEN", None)
        if token:
            env["SLUICE_OPS_TOKEN"] = token
        return subprocess.run([SLUICE_BIN] + list(args), capture_output=True, text=True, timeout=60, env=env)

    def ops_daemon(self, value=OPS_TOKEN):
        os.environ[OPS_VAR] = value
        self.addCleanup(os.environ.pop, OPS_VAR, None)
        return self.daemon("auth:\n  ops_token_env: %s\nqueues:\n  - name: q\n" % OPS_VAR)

    def test_metrics_and_traces_need_the_token(self):
        s = self.ops_daemon()
        sqs = s.client()
        mid = sqs.send_message(QueueUrl=queue_url(sqs, "q"), MessageBody="x")["MessageId"]
        for path in ("/metrics", "/_sluice/trace/" + mid):
            for token in (None, "Bearer wrong-token-of-some-length", "Basic " + OPS_TOKEN, OPS_TOKEN,
                          "Bearer " + OPS_TOKEN + "x", "Bearer " + OPS_TOKEN[:-1]):
                status, headers, body = self.get(s, path, token)
                self.assertEqual(status, 401, (path, token))
                self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="sluice"')
                self.assertIn("operations token", json.loads(body)["message"])
            status, _, body = self.get(s, path, "Bearer " + OPS_TOKEN)
            self.assertEqual(status, 200, body)
            status, _, _ = self.get(s, path, "bearer " + OPS_TOKEN)  # the scheme is case-insensitive
            self.assertEqual(status, 200)
        self.assertIn(b"sluice_queue_sent_total", self.get(s, "/metrics", "Bearer " + OPS_TOKEN)[2])
        for path in ("/health", "/ready"):  # probes stay open
            self.assertEqual(self.get(s, path)[0], 200)
        # the clients send SLUICE_OPS_TOKEN to these paths only
        p = self.cli(s, "trace", mid)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("401", p.stderr)
        p = self.cli(s, "trace", mid, token=OPS_TOKEN)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("queue.sent", p.stdout)
        self.assertEqual(self.cli(s, "cost", token=OPS_TOKEN).returncode, 0)
        self.assertNotEqual(self.cli(s, "cost").returncode, 0)
        p = self.cli(s, "queues", token=OPS_TOKEN)  # an SQS call: no bearer header sent
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_a_weak_or_missing_token_stops_the_start(self):
        for value in (None, "", "short", "has a space in it here"):
            if value is None:
                os.environ.pop(OPS_VAR, None)
            else:
                os.environ[OPS_VAR] = value
            self.addCleanup(os.environ.pop, OPS_VAR, None)
            config = self.write("weak.yaml", "auth:\n  ops_token_env: %s\n" % OPS_VAR)
            p = subprocess.run([SLUICE_BIN, "serve", "--port", str(free_port()), "--data", os.path.join(self.dir, "weak"),
                                "--config", config], capture_output=True, text=True, timeout=60)
            self.assertNotEqual(p.returncode, 0, value)
            self.assertIn("auth.ops_token_env", p.stdout + p.stderr)


PROM_CONFIG = """global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sluice
    scrape_interval: 1s
    authorization:
      credentials_file: %s
    static_configs:
      - targets: ["127.0.0.1:%d"]
"""


@unittest.skipUnless(os.path.exists("/usr/bin/prometheus"),
                     "Debian's prometheus is not installed (scripts/deps.sh --test installs it)")
class ScrapedByPrometheus(FunctionsTestCase):
    def api(self, port, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return json.loads(r.read())

    def test_prometheus_scrapes_the_daemon(self):
        os.environ[OPS_VAR] = OPS_TOKEN
        self.addCleanup(os.environ.pop, OPS_VAR, None)
        s = self.daemon("auth:\n  ops_token_env: %s\nqueues:\n  - name: scraped\n" % OPS_VAR)
        sqs = s.client()
        url = queue_url(sqs, "scraped")
        for i in range(5):
            sqs.send_message(QueueUrl=url, MessageBody="m%d" % i)
        port = free_port()
        store = tempfile.mkdtemp(prefix="sluice-prom-")
        self.addCleanup(shutil.rmtree, store, True)
        conf = self.write("prometheus.yml", PROM_CONFIG % (self.write("ops-token", OPS_TOKEN), s.port))
        log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.addCleanup(log.close)
        prom = subprocess.Popen(["/usr/bin/prometheus", "--config.file=" + conf, "--storage.tsdb.path=" + store,
                                 "--web.listen-address=127.0.0.1:%d" % port], stdout=log, stderr=log)

        def stop():
            prom.terminate()
            try:
                prom.wait(20)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        self.addCleanup(stop)

        def target_up():
            try:
                targets = self.api(port, "/api/v1/targets")["data"]["activeTargets"]
            except OSError:
                return None
            return [t for t in targets if t["health"] == "up"] or None
        self.wait(target_up, 60, "the sluice target up in prometheus")

        def sent():
            try:
                res = self.api(port, "/api/v1/query?query=sluice_queue_sent_total")["data"]["result"]
            except OSError:
                return None
            return [r for r in res if r["metric"].get("queue") == "scraped"] or None
        res = self.wait(sent, 60, "sluice_queue_sent_total in prometheus")
        self.assertEqual(float(res[0]["value"][1]), 5)
        self.assertEqual(res[0]["metric"]["job"], "sluice")


if __name__ == "__main__":
    unittest.main()
