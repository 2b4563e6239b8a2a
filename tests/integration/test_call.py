"""`sluice call`, the gateway's client, run as a subprocess against a real
daemon: the seed's calculator request prints the 202 and then the SUCCEEDED
record (exit 0); -d @file; a schema failure (400), a missing key (403) and a
failed worker (DEAD_LETTERED after its retries) exit 1 naming the cause; a request nothing consumes
ends EXPIRED (exit 1) or, with a --timeout before its deadline, exits 3;
--no-wait; reading a status by id (200, 404, and a pending one followed);
headers pass through (-H). Without a daemon: an unreachable endpoint (exit
4), usage errors and bodies refused before sending (exit 2), an answer over
the 8 MiB limit, a server that never answers (exit 3), and an https
endpoint verified against a CA file.

Every run of the client is also checked for sanitizer reports (SLUICE_ASAN=1
with an ASan+UBSan SLUICE_BIN)."""
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import WORKERS_SO, queue_counts, queue_url, timeout  # noqa: E402
from sluice_harness import ASAN, SANITIZER_MARKS, SLUICE_BIN, Sluice, free_port  # noqa: E402

KEY = "call-client-key-0001"

CONFIG = """
queues:
  - name: division-dlq
  - name: division
    attributes: { VisibilityTimeout: 1 }
    redrive: { dead_letter_queue: division-dlq, max_receive_count: 2 }
  - name: multiplication
  - name: jobs
  - name: slow
  - name: sink
topics:
  - name: calculator
    subscriptions:
      - queue: division
        filter_policy: { operation: [division] }
        raw_message_delivery: true
      - queue: multiplication
        filter_policy: { operation: [multiplication] }
        raw_message_delivery: true
tables:
  - name: results
    partition_key: requestId
    ttl_attribute: expiresAt
functions:
  - name: division
    handler: %(so)s:division
  - name: multiplication
    handler: %(so)s:multiplication
mappings:
  - function: division
    queue: division
    report_batch_item_failures: true
    on_success: table:results
    on_failure: table:results
  - function: multiplication
    queue: multiplication
    report_batch_item_failures: true
    on_success: table:results
gateway:
  results_table: results
  usage_plans:
    - { name: standard, rate: 1000, burst: 1000 }
  api_keys:
    - { name: calc-client, hash: "%(key)s", plan: standard }
  routes:
    - method: POST
      path: /inbound
      integration: publish
      topic: calculator
      api_key: true
      attributes: { operation: body.operation }
      schema:
        type: object
        required: [operation, number]
        properties:
          operation: { enum: [division, multiplication] }
          number: { type: number }
          divisor: { type: number }
          factor: { type: number }
    - method: GET
      path: /response
      integration: result
      id_from: header.requestId
      api_key: true
    - method: POST
      path: /jobs
      integration: enqueue
      queue: jobs
      sla: 1
    - method: POST
      path: /slow
      integration: enqueue
      queue: slow
      sla: 60
    - method: POST
      path: /sink
      integration: enqueue
      queue: sink
"""



def blocks(stdout):
    """The printed answers: [(status, parsed JSON body or raw text or None)]."""
    out = []
    for line in stdout.splitlines(keepends=True):
        m = re.match(r"HTTP/1\.\d (\d{3})", line)
        if m:
            out.append([int(m.group(1)), ""])
        elif out:
            out[-1][1] += line
        else:
            raise AssertionError("output does not start with a status line: %r" % stdout)
    result = []
    for status, text in out:
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = text
        result.append((status, body))
    return result


def run_call(*args, endpoint=None, api_key=None, seconds=60, extra_env=None):
    """Runs `sluice call args...`; returns the CompletedProcess (text)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLUICE_ENDPOINT", "SLUICE_API_KEY")}
    if endpoint:
        env["SLUICE_ENDPOINT"] = endpoint
    if api_key:
        env["SLUICE_API_KEY"] = api_key
    if ASAN:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66")
    env.update(extra_env or {})
    p = subprocess.run([SLUICE_BIN, "call"] + list(args), env=env, capture_output=True, text=True,
                       timeout=timeout(seconds))
    for mark in SANITIZER_MARKS:
        if mark in p.stderr:
            raise AssertionError("sanitizer report from sluice call %s:\n%s" % (args, p.stderr))
    return p


class CallTestCase(unittest.TestCase):
    def assertExit(self, p, code):
        self.assertEqual(p.returncode, code, "exit %s, wanted %s\nstdout:\n%s\nstderr:\n%s" % (
            p.returncode, code, p.stdout, p.stderr))

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="sluice-call-")
        self.addCleanup(shutil.rmtree, d, True)
        return d


class CallGateway(CallTestCase):
    """One daemon for the class, with the calculator behind an API key."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sluice-call-")
        config = os.path.join(cls.dir, "sluice.yaml")
        with open(config, "w") as f:
            f.write(CONFIG % {"so": WORKERS_SO, "key": "sha256:" + hashlib.sha256(KEY.encode()).hexdigest()})
        cls.sluice = Sluice(data_dir=os.path.join(cls.dir, "data"), config=config).start(timeout=timeout(10))

    @classmethod
    def tearDownClass(cls):
        rc = cls.sluice.stop()
        log = cls.sluice.read_log()
        cls.sluice.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)
        if rc != 0:
            raise AssertionError("sluice exited with %s on SIGTERM; log:\n%s" % (rc, log[-20000:]))
        if any(m in log for m in SANITIZER_MARKS):
            raise AssertionError("sanitizer report in sluice log:\n" + log[-20000:])

    def call(self, *args, **kw):
        kw.setdefault("endpoint", self.sluice.endpoint)
        return run_call(*args, **kw)

    def test_multiplication_prints_202_then_succeeded(self):
        p = self.call("POST", "/inbound", "--api-key", KEY,
                      "-d", '{"operation": "multiplication", "number": 21, "factor": 2}')
        self.assertExit(p, 0)
        (s1, accepted), (s2, done) = blocks(p.stdout)
        self.assertEqual((s1, accepted["status"]), (202, "ACCEPTED"))
        self.assertEqual(accepted["statusUrl"], "/_sluice/requests/" + accepted["requestId"])
        self.assertEqual((s2, done["status"], done["requestId"]), (200, "SUCCEEDED", accepted["requestId"]))
        self.assertEqual(done["result"]["result"], 42.0)
        self.assertEqual(p.stderr, "")

    def test_data_from_file_and_key_from_env(self):
        path = os.path.join(self.tmpdir(), "divideTest.json")
        with open(path, "w") as f:
            json.dump({"operation": "division", "number": 84, "divisor": 2}, f, indent=2)
        p = self.call("POST", "/inbound", "-d", "@" + path, api_key=KEY)
        self.assertExit(p, 0)
        answers = blocks(p.stdout)
        self.assertEqual([a[0] for a in answers], [202, 200])
        self.assertEqual((answers[1][1]["status"], answers[1][1]["result"]["result"]), ("SUCCEEDED", 42.0))

    def test_invalid_body_prints_400_and_exits_1(self):
        p = self.call("POST", "/inbound", "--api-key", KEY, "-d", '{"operation": "division"}')
        self.assertExit(p, 1)
        [(status, doc)] = blocks(p.stdout)
        self.assertEqual((status, doc["message"]), (400, "Invalid request body"))
        self.assertIn("400", p.stderr)
        self.assertIn("Invalid request body", p.stderr)
        self.assertIn("$.number", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_missing_key_is_403_exit_1(self):
        p = self.call("POST", "/inbound", "-d", '{"operation": "multiplication", "number": 1}')
        self.assertExit(p, 1)
        self.assertEqual(blocks(p.stdout), [(403, {"message": "Forbidden"})])
        self.assertIn("403 Forbidden", p.stderr)

    def test_failed_worker_exits_1_with_its_error(self):
        p = self.call("POST", "/inbound", "--api-key", KEY, "-d",
                      '{"operation": "division", "number": 1, "divisor": 0}')
        self.assertExit(p, 1)
        answers = blocks(p.stdout)
        # two attempts (VisibilityTimeout 1 s), then the dead-letter queue; the last error is named
        self.assertEqual((answers[-1][0], answers[-1][1]["status"]), (200, "DEAD_LETTERED"))
        self.assertIn("DEAD_LETTERED", p.stderr)
        self.assertIn("division by zero", p.stderr)
        self.assertIn(answers[0][1]["requestId"], p.stderr)

    def test_never_consumed_request_ends_expired(self):
        t0 = time.time()
        p = self.call("POST", "/jobs", "-d", '{"x": 1}', "--timeout", "5")  # the route's sla is 1 s
        took = time.time() - t0
        self.assertExit(p, 1)
        answers = blocks(p.stdout)
        self.assertEqual([a[0] for a in answers], [202, 200])
        self.assertEqual(answers[1][1]["status"], "EXPIRED")
        self.assertIn("EXPIRED", p.stderr)
        # the polls stop at the deadline, not at the end of a 20 s wait or of --timeout
        self.assertLess(took, timeout(4))

    def test_timeout_while_pending_exits_3(self):
        t0 = time.time()
        p = self.call("POST", "/slow", "-d", "{}", "--timeout", "1.5")
        took = time.time() - t0
        self.assertExit(p, 3)
        self.assertEqual([a[0] for a in blocks(p.stdout)], [202])
        self.assertIn("still ACCEPTED", p.stderr)
        self.assertGreaterEqual(took, 1.4)
        self.assertLess(took, timeout(4))

    def test_no_wait_prints_the_202_and_exits_0(self):
        p = self.call("--no-wait", "POST", "/slow", "-d", "[1, 2]")
        self.assertExit(p, 0)
        [(status, doc)] = blocks(p.stdout)
        self.assertEqual((status, doc["status"]), (202, "ACCEPTED"))

    def test_reading_a_status_by_id(self):
        p = self.call("POST", "/inbound", "--no-wait", "--api-key", KEY, "-d",
                      '{"operation": "multiplication", "number": 2, "factor": 3}')
        self.assertExit(p, 0)
        rid = blocks(p.stdout)[0][1]["requestId"]
        p = self.call("GET", "/_sluice/requests/" + rid)  # a 202 here would be followed on the same path
        self.assertExit(p, 0)
        self.assertEqual(blocks(p.stdout)[-1][1]["result"]["result"], 6.0)
        # the seed's result route: the id in a header, behind the key; -H and --api-key go along
        p = self.call("GET", "/response", "-H", "requestId: " + rid, "--api-key", KEY)
        self.assertExit(p, 0)
        self.assertEqual(blocks(p.stdout)[-1][1]["status"], "SUCCEEDED")
        p = self.call("GET", "/_sluice/requests/no-such-request")
        self.assertExit(p, 1)
        self.assertEqual(blocks(p.stdout)[0][0], 404)
        self.assertIn("No request with this id", p.stderr)

    def test_pending_status_read_is_followed(self):
        rid = blocks(self.call("POST", "/slow", "--no-wait", "-d", "{}").stdout)[0][1]["requestId"]
        p = self.call("GET", "/_sluice/requests/" + rid, "--timeout", "1")
        self.assertExit(p, 3)
        self.assertEqual([a[0] for a in blocks(p.stdout)], [202])
        self.assertIn(rid, p.stderr)

    def test_headers_pass_through(self):
        body = '{"operation": "multiplication", "number": 5}'
        first = self.call("--no-wait", "POST", "/inbound", "-H", "x-api-key: " + KEY, "-H",
                          "Idempotency-Key: call-order-1", "-d", body)
        again = self.call("--no-wait", "POST", "/inbound", "-H", "X-Api-Key:" + KEY, "-H",
                          "idempotency-key:   call-order-1  ", "-d", body)
        self.assertExit(first, 0)
        self.assertExit(again, 0)
        self.assertEqual(blocks(first.stdout)[0][1]["requestId"], blocks(again.stdout)[0][1]["requestId"])

    def test_invalid_json_is_refused_before_sending(self):
        d = self.tmpdir()
        bad = os.path.join(d, "bad.json")
        with open(bad, "w") as f:
            f.write('{"operation": "multiplication", "number": }')
        for args in (["-d", "@" + bad], ["-d", "{not json"], ["-d", ""], ["-d", "@" + os.path.join(d, "missing.json")]):
            p = self.call("POST", "/sink", *args)
            self.assertExit(p, 2)
            self.assertEqual(p.stdout, "")
        self.assertIn("not valid JSON", self.call("POST", "/sink", "-d", "@" + bad).stderr)
        sqs = self.sluice.client()
        self.assertEqual(queue_counts(sqs, queue_url(sqs, "sink")), (0, 0, 0))


class _Server:
    """A loopback HTTP(S) server whose GET answers are handler(path) -> (status, headers, body bytes) or None
    (no answer: hold the connection until the server closes)."""

    def __init__(self, handler, ssl_ctx=None):
        outer = self
        self.release = threading.Event()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                out = handler(self.path)
                if out is None:
                    outer.release.wait(30)
                    return
                status, headers, body = out
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        if ssl_ctx:
            self.httpd.socket = ssl_ctx.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if ssl_ctx else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class CallWithoutDaemon(CallTestCase):
    def server(self, handler, ssl_ctx=None):
        s = _Server(handler, ssl_ctx)
        self.addCleanup(s.close)
        return s

    def test_unreachable_endpoint_exits_4(self):
        port = free_port()  # nothing listens there
        p = run_call("--endpoint", "http://127.0.0.1:%d" % port, "POST", "/inbound", "-d", "{}")
        self.assertExit(p, 4)
        self.assertIn("cannot reach", p.stderr)
        self.assertEqual(p.stdout, "")
        # SLUICE_ENDPOINT is used when --endpoint is not given, and only then
        self.assertExit(run_call("GET", "/health", endpoint="http://127.0.0.1:%d" % port), 4)
        self.assertExit(run_call("--endpoint", "http://127.0.0.1:%d" % port, "GET", "/health", endpoint="bogus"), 4)
        self.assertExit(run_call("GET", "/health", endpoint="bogus"), 2)

    def test_usage_errors_exit_2(self):
        for args in ([], ["GET"], ["GET", "/a", "/b"], ["GET", "no-slash"], ["G T", "/"], ["--bogus", "GET", "/"],
                     ["GET", "/", "--timeout"], ["--timeout", "0", "GET", "/"], ["--timeout", "x", "GET", "/"],
                     ["-H", "no colon", "GET", "/"], ["-H", "Content-Length: 3", "GET", "/"],
                     ["-d", "{}", "-d", "{}", "POST", "/"], ["--endpoint", "ftp://x", "GET", "/"],
                     ["--endpoint", "http://127.0.0.1:1/base", "GET", "/"]):
            p = run_call(*args, endpoint="http://127.0.0.1:1")
            self.assertExit(p, 2)
            self.assertIn("sluice call:", p.stderr)
            self.assertEqual(p.stdout, "")
        p = run_call("GET", "/", endpoint="https//nope")
        self.assertExit(p, 2)

    def test_help(self):
        p = run_call("--help")
        self.assertExit(p, 0)
        self.assertIn("usage:", p.stdout)
        self.assertIn("--no-wait", p.stdout)
        top = subprocess.run([SLUICE_BIN, "help"], capture_output=True, text=True, timeout=timeout(10))
        self.assertIn(" call ", top.stdout)

    def test_answer_over_8_mib_is_refused(self):
        big = b'{"pad": "' + b"x" * (9 << 20) + b'"}'
        s = self.server(lambda path: (200, {"Content-Type": "application/json"}, big))
        p = run_call("--endpoint", s.url, "GET", "/big")
        self.assertExit(p, 1)
        self.assertIn("too large", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_no_answer_exits_3_at_the_timeout(self):
        s = self.server(lambda path: None)
        t0 = time.time()
        p = run_call("--endpoint", s.url, "--timeout", "1", "GET", "/never")
        self.assertExit(p, 3)
        self.assertLess(time.time() - t0, timeout(4))
        self.assertIn("--timeout", p.stderr)

    def test_non_json_answers_print_as_is(self):
        s = self.server(lambda path: (200, {"Content-Type": "text/plain"}, b"plain words"))
        p = run_call("--endpoint", s.url + "/", "GET", "/text")
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "HTTP/1.1 200 OK\nplain words\n")

    @unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
    def test_https_endpoint_is_verified(self):
        d = self.tmpdir()
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        s = self.server(lambda path: (200, {"Content-Type": "application/json"}, b'{"ok": true}'), ctx)
        p = run_call("--endpoint", s.url, "GET", "/tls", extra_env={"SSL_CERT_FILE": cert})
        self.assertExit(p, 0)
        self.assertEqual(blocks(p.stdout), [(200, {"ok": True})])
        # the same server without its certificate trusted: not reachable securely
        p = run_call("--endpoint", s.url, "GET", "/tls", extra_env={"SSL_CERT_FILE": os.path.join(d, "none.pem")})
        self.assertExit(p, 4)


if __name__ == "__main__":
    unittest.main()
