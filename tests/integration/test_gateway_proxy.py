"""The gateway's proxy integration (seed 003's strangler facade) over the
wire: a Python stdlib HTTP server plays the legacy upstream and echoes what
it got; the daemon forwards method, path (parameters substituted or the
whole path appended), query, headers and body, and answers with the
upstream's status, headers and body. Also: hop-by-hop headers stay behind,
X-Forwarded-* are set, a slow upstream is a 504, a closed port and a
garbage answer are 502s, a 1 MB answer arrives whole and one over 10 MB is
a 502, a caller that hangs up cancels the upstream request, API keys apply,
and configs the daemon refuses."""
import hashlib
import http.client
import json
import os
import select
import socket
import subprocess
import sys
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from fn_truth import FunctionsTestCase, timeout  # noqa: E402
from sluice_harness import REGION, SLUICE_BIN, free_port  # noqa: E402

KEY = "proxy-client-key-0001"
LIMIT = 10 * 1024 * 1024


def sha(key):
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def pattern(n):
    """n bytes that differ along the way, so a lost or moved chunk shows."""
    block = bytes(range(256)) * 4096  # 1 MiB
    return (block * (n // len(block) + 1))[:n]


class Upstream(ThreadingHTTPServer):
    """The legacy service. /echo/...: 200 with {method, path, headers,
    body}; /echo/status/N: that status with extra (and hop-by-hop) headers;
    /slow...: answers after 3 s unless the caller's connection closes first
    (noted in closed_early); /big/N: N bytes; /garbage: not HTTP."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.closed_early = []
        self.arrived = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server_address[1]

    def close(self):
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the daemon stops reading an answer over its limit
            self.close_connection = True

    def _slow(self):
        self.server.arrived.append(self.path)
        r, _, _ = select.select([self.connection], [], [], 3.0)
        if r and not self.connection.recv(1, socket.MSG_PEEK):
            self.server.closed_early.append(self.path)
            self.close_connection = True
            return
        self._send(200, b'{"slow":true}')

    def _any(self):
        body = self._body()
        path = self.path
        if not path.startswith("/slow"):  # _slow notes its own
            self.server.arrived.append(path)
        if path.startswith("/slow"):
            return self._slow()
        if path == "/garbage":
            self.wfile.write(b"SPAM SPAM SPAM\r\n\r\n")
            self.close_connection = True
            return
        if path.startswith("/big/"):
            return self._send(200, pattern(int(path[5:])), "application/octet-stream")
        doc = {"method": self.command, "path": path, "headers": [[k, v] for k, v in self.headers.items()],
               "body": body.decode("latin-1")}
        if path.startswith("/echo/status/"):
            status = int(path.split("/")[3][:3])
            extra = [("X-Upstream", "yes"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                     ("Connection", "X-Private"), ("X-Private", "hidden"), ("Keep-Alive", "timeout=5"),
                     ("Location", "/somewhere")]
            extra += [("X-Many-%02d" % i, "v%02d-" % i + "x" * 60) for i in range(40)]  # > 1 KiB of headers
            return self._send(status, json.dumps(doc).encode(), extra=extra)
        self._send(200, json.dumps(doc).encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any


CONFIG = """
gateway:
  usage_plans:
    - name: open
  api_keys:
    - name: legacy-client
      hash: %(key)s
      plan: open
  routes:
    - method: ANY
      path: /legacy/{proxy+}
      integration: proxy
      upstream: http://127.0.0.1:%(up)d/echo/{proxy}
    - method: GET
      path: /users/{id}/orders/{order}
      integration: proxy
      upstream: http://127.0.0.1:%(up)d/echo/u/{id}/o/{order}?src=gw
    - method: ANY
      path: /whole/{rest+}
      integration: proxy
      upstream: http://127.0.0.1:%(up)d/echo
    - method: GET
      path: /slow
      integration: proxy
      upstream: http://127.0.0.1:%(up)d
      timeout: 1
    - method: GET
      path: /hangup
      integration: proxy
      upstream: http://127.0.0.1:%(up)d/slow
      timeout: 20
    - method: GET
      path: /closed
      integration: proxy
      upstream: http://127.0.0.1:%(closed)d/x
    - method: GET
      path: /garbage
      integration: proxy
      upstream: http://127.0.0.1:%(up)d
    - method: GET
      path: /big/{n}
      integration: proxy
      upstream: http://127.0.0.1:%(up)d/big/{n}
    - method: ANY
      path: /{all+}
      integration: proxy
      upstream: http://127.0.0.1:%(up)d/echo/catch-all/{all}
    - method: POST
      path: /keyed
      integration: proxy
      upstream: http://127.0.0.1:%(up)d/echo
      api_key: true
"""


class Proxy(FunctionsTestCase):
    def setUp(self):
        super().setUp()
        self.up = Upstream()
        self.addCleanup(self.up.close)
        self.s = self.daemon(CONFIG % {"up": self.up.port, "closed": free_port(), "key": sha(KEY)})

    def call(self, method, path, body=None, headers=None):
        """(status, headers as a list of pairs, raw body) over one connection."""
        c = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=timeout(30))
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            c.close()

    def echo(self, method, path, body=None, headers=None):
        status, hdrs, raw = self.call(method, path, body, headers)
        self.assertEqual(status, 200, raw[:300])
        doc = json.loads(raw)
        doc["h"] = {k.lower(): v for k, v in doc["headers"]}
        return doc

    def test_get_and_post_are_forwarded_with_path_query_headers_and_body(self):
        got = self.echo("GET", "/legacy/a/b%20c/d?x=1&y=%2F&x=2", headers={"X-Custom": "v1", "Accept": "text/x"})
        self.assertEqual((got["method"], got["path"]), ("GET", "/echo/a/b%20c/d?x=1&y=%2F&x=2"))
        self.assertEqual((got["h"]["x-custom"], got["h"]["accept"]), ("v1", "text/x"))
        self.assertEqual(got["h"]["host"], "127.0.0.1:%d" % self.up.port)
        self.assertEqual(got["body"], "")
        body = json.dumps({"order": 7, "note": "caf\u00e9"}).encode()
        got = self.echo("POST", "/legacy/orders", body, {"Content-Type": "application/json", "X-Trace": "t-1"})
        self.assertEqual((got["method"], got["path"], got["body"].encode("latin-1")), ("POST", "/echo/orders", body))
        self.assertEqual((got["h"]["content-type"], got["h"]["x-trace"]), ("application/json", "t-1"))
        self.assertEqual(got["h"]["content-length"], str(len(body)))
        got = self.echo("DELETE", "/legacy/orders/7")  # an ANY route takes every method
        self.assertEqual((got["method"], got["path"]), ("DELETE", "/echo/orders/7"))

    def test_path_parameters_are_substituted_encoded(self):
        got = self.echo("GET", "/users/j%20doe/orders/42?full=1")
        self.assertEqual(got["path"], "/echo/u/j%20doe/o/42?src=gw&full=1")
        got = self.echo("GET", "/users/a%3Fb/orders/x%23y")  # decoded when matched, encoded again
        self.assertEqual(got["path"], "/echo/u/a%3Fb/o/x%23y?src=gw")

    def test_without_placeholders_the_whole_path_is_appended(self):
        got = self.echo("PUT", "/whole/a/b?q=1", b"data")
        self.assertEqual((got["method"], got["path"], got["body"]), ("PUT", "/echo/whole/a/b?q=1", "data"))

    def test_upstream_status_headers_and_body_pass_through(self):
        for status in (201, 404, 500):
            st, hdrs, raw = self.call("POST", "/legacy/status/%d" % status, b"{}")
            self.assertEqual(st, status, raw[:200])
            self.assertEqual(json.loads(raw)["path"], "/echo/status/%d" % status)
            names = [k.lower() for k, _ in hdrs]
            h = dict((k.lower(), v) for k, v in hdrs)
            self.assertEqual((h["x-upstream"], h["location"], h["content-type"]), ("yes", "/somewhere",
                                                                                  "application/json"))
            self.assertEqual(sorted(v for k, v in hdrs if k.lower() == "set-cookie"), ["a=1", "b=2"])
            self.assertEqual([h.get("x-many-%02d" % i) for i in range(40)],
                             ["v%02d-" % i + "x" * 60 for i in range(40)])
            for hop in ("x-private", "keep-alive"):
                self.assertNotIn(hop, names)
            self.assertEqual(names.count("content-length"), 1)
            self.assertEqual(h["content-length"], str(len(raw)))
            self.assertEqual(names.count("server"), 1)
            self.assertNotEqual(h.get("connection", ""), "X-Private")

    def test_hop_by_hop_headers_stay_and_forwarded_headers_are_set(self):
        got = self.echo("GET", "/legacy/h", headers={
            "Connection": "keep-alive, X-Private", "X-Private": "secret", "Keep-Alive": "timeout=5",
            "TE": "trailers", "Proxy-Authorization": "Basic eDp5", "Upgrade": "h2c", "X-Kept": "k",
            "X-Forwarded-For": "10.1.2.3", "Trailer": "X-T"})
        h = got["h"]
        for hop in ("x-private", "keep-alive", "te", "proxy-authorization", "upgrade", "trailer"):
            self.assertNotIn(hop, h, hop)
        self.assertEqual(h["connection"], "keep-alive")  # the client's own, not the caller's
        self.assertEqual(h["x-kept"], "k")
        self.assertEqual(h["x-forwarded-for"], "10.1.2.3, 127.0.0.1")
        self.assertEqual(h["x-forwarded-proto"], "http")
        self.assertEqual(h["x-forwarded-host"], "127.0.0.1:%d" % self.s.port)
        got = self.echo("GET", "/legacy/h2")
        self.assertEqual(got["h"]["x-forwarded-for"], "127.0.0.1")

    def test_slow_upstream_is_504(self):
        st, _, raw = self.call("GET", "/slow")
        self.assertEqual((st, json.loads(raw)), (504, {"message": "Endpoint request timed out"}))
        self.assertIn("proxy_failed", self.s.read_log())
        self.assertIn('route="GET /slow"', self.s.read_log())

    def test_closed_port_and_garbage_are_502(self):
        for path in ("/closed", "/garbage"):
            st, _, raw = self.call("GET", path)
            self.assertEqual((st, json.loads(raw)), (502, {"message": "Bad Gateway"}), path)
        log = self.s.read_log()
        self.assertIn("error=CONNECT", log)
        self.assertIn("error=PROTOCOL", log)

    def test_large_answers_arrive_whole_and_over_the_limit_is_502(self):
        for n in (1024 * 1024, LIMIT):
            st, _, raw = self.call("GET", "/big/%d" % n)
            self.assertEqual((st, len(raw)), (200, n))
            self.assertTrue(raw == pattern(n), "the body of %d bytes arrived changed" % n)
        st, _, raw = self.call("GET", "/big/%d" % (LIMIT + 1))
        self.assertEqual((st, json.loads(raw)), (502, {"message": "Bad Gateway"}))
        self.assertIn("error=TOO_LARGE", self.s.read_log())

    def test_caller_hanging_up_cancels_the_upstream_request(self):
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=timeout(10))
        sock.sendall(b"GET /hangup HTTP/1.1\r\nHost: x\r\n\r\n")
        self.wait(lambda: "/slow/hangup" in self.up.arrived, 10, "the request at the upstream")
        sock.close()
        self.wait(lambda: "/slow/hangup" in self.up.closed_early, 10,
                  "the upstream connection to close after the caller hung up")
        self.assertIn("proxy_cancelled", self.s.read_log())
        got = self.echo("GET", "/legacy/still-there")  # the daemon still serves
        self.assertEqual(got["path"], "/echo/still-there")

    def test_api_key_routes_want_a_key(self):
        st, _, raw = self.call("POST", "/keyed", b"{}")
        self.assertEqual((st, json.loads(raw)), (403, {"message": "Forbidden"}))
        got = self.echo("POST", "/keyed", b"{}", {"x-api-key": KEY})
        self.assertEqual(got["path"], "/echo/keyed")
        self.assertEqual(got["h"]["x-api-key"], KEY)


    def test_a_catch_all_route_leaves_signed_sqs_requests_alone(self):
        got = self.echo("GET", "/000000000000/orders?x=1")
        self.assertEqual(got["path"], "/echo/catch-all/000000000000/orders?x=1")
        # SigV4-signed for sqs: the query protocol may post to the queue URL (the
        # aws CLI and older SDKs do), which the catch-all matches too
        sqs = self.s.client("sqs")
        url = sqs.create_queue(QueueName="orders")["QueueUrl"]
        form = "Action=SendMessage&MessageBody=kept&Version=2012-11-05"
        req = AWSRequest(method="POST", url=self.s.endpoint + "/000000000000/orders", data=form,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials("AKIDSLUICETEST", "secret"), "sqs", REGION).add_auth(req)
        st, _, raw = self.call("POST", "/000000000000/orders", form.encode(), dict(req.headers.items()))
        self.assertEqual(st, 200, raw[:300])
        self.assertIn(b"SendMessageResponse", raw)
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual([m["Body"] for m in msgs], ["kept"])


    def test_a_catch_all_route_leaves_sluices_own_paths_alone(self):
        """The Lambda API (with the aws SDK's signature), the tables view and
        /health are Sluice's, whatever a catch-all route says: their
        requests, credentials and all, never reach the upstream."""
        lam = self.s.client("lambda")
        self.assertEqual(lam.list_functions()["Functions"], [])
        st, _, raw = self.call("GET", "/_sluice/tables/none/items/x")
        self.assertEqual(st, 404, raw)
        self.assertNotIn(b"catch-all", raw)
        st, hdrs, raw = self.call("HEAD", "/health")
        self.assertNotEqual(dict(hdrs).get("X-Served-By"), "upstream")
        self.assertEqual(raw, b"")
        self.assertFalse([p for p in self.up.arrived if "2015-03-31" in p or "_sluice" in p or "health" in p],
                         self.up.arrived)

    def test_dot_segments_are_refused_not_forwarded(self):
        for path in ("/legacy/a/../../admin", "/legacy/%2e%2e/admin", "/whole/x/./y"):
            st, _, raw = self.call("GET", path)
            self.assertEqual(st, 400, (path, raw[:200]))
            self.assertIn(b". or ..", raw)
        self.assertFalse([p for p in self.up.arrived if "admin" in p or "/y" in p], self.up.arrived)
        self.assertEqual(self.echo("GET", "/legacy/.well-known/a..b")["path"], "/echo/.well-known/a..b")

    def test_a_path_over_1023_bytes_is_414(self):
        st, _, raw = self.call("GET", "/legacy/" + "a" * 1100)
        self.assertEqual(st, 414, raw[:200])
        self.assertEqual(self.echo("GET", "/legacy/" + "a" * 900)["path"], "/echo/" + "a" * 900)

    def test_head_answers_carry_no_body(self):
        """A HEAD answered by any route leaves no bytes behind that the next
        response on the connection would be read from: the head of a GET,
        Content-Length and all, and nothing after it."""
        with socket.create_connection(("127.0.0.1", self.s.port), timeout=timeout(30)) as c:
            c.sendall(b"HEAD /keyed HTTP/1.1\r\nHost: x\r\n\r\n")  # 405 from Sluice itself
            got = b""
            while b"\r\n\r\n" not in got:
                got += c.recv(4096)
            c.settimeout(0.5)
            try:
                got += c.recv(4096)
            except socket.timeout:
                pass
            head, _, rest = got.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 405"), head)
            self.assertRegex(head, rb"(?i)content-length: [1-9]")
            self.assertEqual(rest, b"")
            c.settimeout(timeout(30))
            c.sendall(b"GET /legacy/after-head HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while b"after-head" not in got:
                chunk = c.recv(65536)
                self.assertTrue(chunk, got)
                got += chunk
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])


class ProxyConfig(FunctionsTestCase):
    """Proxy routes the daemon refuses to start with, naming the problem."""

    def refuse(self, route, needle):
        path = self.write("bad.yaml", "gateway:\n  routes:\n    - " + route + "\n")
        r = subprocess.run([SLUICE_BIN, "serve", "--port", str(free_port()), "--data", os.path.join(self.dir, "d"),
                            "--config", path], capture_output=True, text=True, timeout=timeout(20))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(needle, r.stderr + r.stdout)

    def test_refused_configs(self):
        self.refuse("{ path: /a, integration: proxy }", "route POST /a: a proxy route needs upstream")
        self.refuse("{ path: /a, integration: proxy, upstream: 'ftp://h/x' }",
                    "upstream ftp://h/x is not an http:// or https:// URL")
        self.refuse("{ path: '/a/{id}', integration: proxy, upstream: 'http://h/{nope}' }",
                    "upstream http://h/{nope} names {nope}, which is not a parameter of the path /a/{id}")
        self.refuse("{ path: '/a/{id}', integration: proxy, upstream: 'http://{id}/' }",
                    "placeholders belong in the URL's path")
        self.refuse("{ path: /a, integration: proxy, upstream: 'http://h', timeout: 301 }",
                    "timeout must be an integer in 1..300")
        self.refuse("{ path: /a, integration: proxy, upstream: 'http://h', timeout: 0 }",
                    "timeout must be an integer in 1..300")
        self.refuse("{ path: /a, integration: proxy, upstream: 'http://h', attributes: { a: header.x } }",
                    "forwards the request as it is")
        self.refuse("{ path: /_sluice/x, integration: proxy, upstream: 'http://h' }", "Sluice's own")


if __name__ == "__main__":
    unittest.main()
