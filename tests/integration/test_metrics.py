"""GET /metrics and GET /ready (docs/METRICS.md): real traffic — SQS send,
receive and delete, a publish one subscription's filter policy turns away,
a function invocation over the Lambda API — then the exposition, read with
a strict parser of the Prometheus text format 0.0.4, must count exactly
that. A real Prometheus (Debian's `prometheus`, when installed) scrapes the
daemon, with the operations token as its bearer credentials, and must see
the same value. The token (auth.ops_token_env) guards /metrics and traces,
never /health or /ready, and the command-line clients send it from
SLUICE_OPS_TOKEN."""
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

from fn_truth import FunctionsTestCase, queue_url, str_attr, timeout
from sluice_harness import SLUICE_BIN, free_port

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
        for value in ("", "short", "has a space in it here"):
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
