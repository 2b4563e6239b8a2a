"""Shared pieces of the functions integration tests (test_functions*.py).

Each test starts its own daemon on its own data directory with a config file
written to a temp directory (absolute paths only), so functions, tables and
mappings are declared exactly as an operator would declare them. Besides the
daemon this module provides:

  * FnServer — a loopback HTTP server that serves as an `http` function: the
    test gives it a Python callable event -> result (or (status, body)) and
    it records every call (arrival time, event, headers);
  * table_get / table_scan — the read-only table view
    (/_sluice/tables/...), the only way results leave the daemon for now;
  * queue helpers that count messages through GetQueueAttributes.

Waits are bounded and scaled up for the ASan daemon (SLOW)."""
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when run from the repository root
from sluice_harness import ASAN, VALGRIND, Sluice  # noqa: E402
from sqs_truth import wait_until  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("SLUICE_EXAMPLES_BUILD", os.path.join(REPO, "build"))
WORKERS_SO = os.path.join(BUILD, "examples", "workers.so")
C_BOOTSTRAP = os.path.join(BUILD, "examples", "runtime-c", "bootstrap")
PY_BOOTSTRAP = os.path.join(REPO, "examples", "runtimes", "python", "bootstrap")
PY_WORKERS = os.path.join(REPO, "examples", "workers", "python")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "functions")

SLOW = 20.0 if VALGRIND else 3.0 if ASAN else 1.0  # the ASan daemon is a few times slower, valgrind's more


def timeout(seconds):
    """A bound for a wait: seconds on the normal daemon, more under ASan."""
    return seconds * SLOW


# ---- tables ---------------------------------------------------------------------------------------


def http_get(endpoint, path):
    """(status, parsed JSON body or None)."""
    try:
        with urllib.request.urlopen(endpoint + path, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, None


def table_get(endpoint, table, pk):
    """The item under pk, or None when there is none (404)."""
    status, doc = http_get(endpoint, "/_sluice/tables/%s/items/%s" % (
        urllib.parse.quote(table, safe=""), urllib.parse.quote(pk, safe="")))
    if status == 404:
        return None
    if status != 200:
        raise AssertionError("GET item %s/%s: %s %r" % (table, pk, status, doc))
    return doc


def table_scan(endpoint, table):
    """Every item of the table, by following the view's pages."""
    items, after = [], None
    while True:
        q = "?limit=500" + ("&after=" + urllib.parse.quote(after, safe="") if after else "")
        status, doc = http_get(endpoint, "/_sluice/tables/%s%s" % (urllib.parse.quote(table, safe=""), q))
        if status != 200:
            raise AssertionError("scan %s: %s %r" % (table, status, doc))
        items += doc["Items"]
        if not doc.get("More") or not doc["Items"]:
            return items
        after = doc["Items"][-1][_pk_of(doc["Items"][-1])]


def _pk_of(item):
    for k in ("requestId", "id", "RideId"):
        if k in item:
            return k
    raise AssertionError("cannot page a table whose key is unknown: %r" % item)


# ---- queues ---------------------------------------------------------------------------------------


def queue_url(sqs, name):
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def queue_counts(sqs, url):
    """(visible, in flight, delayed) messages of the queue."""
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
            int(a.get("ApproximateNumberOfMessagesDelayed", "0")))


def queue_empty(sqs, url):
    return queue_counts(sqs, url) == (0, 0, 0)


def drain(sqs, url, want, wait=10.0):
    """Receives (and deletes) messages until want arrived or the wait ends."""
    got, deadline = [], time.time() + wait
    while len(got) < want and time.time() < deadline:
        ms = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                 AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        for m in ms:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        got += ms
    return got


def str_attr(value):
    return {"DataType": "String", "StringValue": value}


# ---- an http function ------------------------------------------------------------------------------


class Call:
    """One POST the daemon made to the function."""

    def __init__(self, t0, t1, event, headers):
        self.t0, self.t1, self.event, self.headers = t0, t1, event, headers

    @property
    def records(self):
        return self.event.get("Records", []) if isinstance(self.event, dict) else []


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # a reset by a killed daemon is expected
            super().handle_error(request, client_address)


class FnServer:
    """A loopback HTTP server acting as an `http` function at url.

    handler(event, call_number) returns the result (sent as JSON with 200),
    or a (status, body bytes) pair to answer otherwise. Every call is kept
    in calls (with arrival and completion times); inflight and max_inflight
    count concurrent calls."""

    def __init__(self, handler):
        self.handler = handler
        self.calls = []
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.number = 0
        server = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                server._serve(self)

        self.httpd = _QuietServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/fn" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _serve(self, req):
        t0 = time.time()
        body = req.rfile.read(int(req.headers.get("Content-Length", "0")))
        with self.lock:
            self.number += 1
            number = self.number
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            event = json.loads(body) if body else None
            out = self.handler(event, number)
            status, data = out if isinstance(out, tuple) else (200, json.dumps(out).encode())
        except Exception as e:  # noqa: BLE001 - a broken test handler answers 500, visibly
            status, data, event = 500, ("handler raised %r" % e).encode(), None
        finally:
            with self.lock:
                self.inflight -= 1
        with self.lock:
            self.calls.append(Call(t0, time.time(), event, dict(req.headers)))
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except OSError:
            req.close_connection = True  # the daemon is gone (a kill -9 test)

    def records(self):
        """Every record of every call so far, in arrival order."""
        with self.lock:
            calls = sorted(self.calls, key=lambda c: c.t0)
        return [r for c in calls for r in c.records]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- the test case ---------------------------------------------------------------------------------


class FunctionsTestCase(unittest.TestCase):
    """A temp directory per test; daemon() starts a Sluice on a config
    written there and stops it (checking exit status and sanitizer reports)
    when the test ends."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-fn-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def daemon(self, config_text, data_dir=None, fsync="always", start_timeout=None):
        """Starts a daemon on the config (written to this test's directory);
        data_dir reuses a previous daemon's data (a restart)."""
        config = self.write("sluice-%d.yaml" % len(os.listdir(self.dir)), config_text)
        data = data_dir or os.path.join(self.dir, "data")
        s = Sluice(data_dir=data, config=config, args=["--fsync", fsync])
        s.start(timeout=timeout(10))
        self.addCleanup(self._stop, s)
        return s

    def _stop(self, s):
        if not s.proc:
            s.cleanup()  # killed: only its log is left to remove
            return
        s.stop_checked()

    def kill9(self, s):
        """SIGKILL; the log is kept for the restarted daemon's report."""
        s.kill9()

    def fn_server(self, handler):
        srv = FnServer(handler)
        self.addCleanup(srv.close)
        return srv

    def wait(self, fn, seconds, what):
        """wait_until with an ASan-scaled bound; fails the test with what."""
        v = wait_until(fn, timeout=timeout(seconds), step=0.05)
        if not v:
            self.fail("timed out after %.0f s waiting for %s" % (timeout(seconds), what() if callable(what) else what))
        return v

    def item(self, s, table, pk):
        return table_get(s.endpoint, table, pk)

    def wait_item(self, s, table, pk, status=None, seconds=15):
        """Waits for the item under pk (with that status, when given)."""
        def ready():
            it = table_get(s.endpoint, table, pk)
            return it if it and (status is None or it.get("status") == status) else None
        return self.wait(ready, seconds, lambda: "item %s in %s%s (now %r)" % (
            pk, table, " with status " + status if status else "", table_get(s.endpoint, table, pk)))
