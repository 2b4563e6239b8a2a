"""The HTTP/1.1 connection layer over raw sockets: keep-alive, pipelining,
chunked bodies, Expect: 100-continue, limits (431/413), malformed and
smuggling-shaped requests (400/501/505), timeouts (idle close, 408), a
client that never reads, the connection limit (503), HTTP/1.0, clients that
leave mid-request and mid-long-poll, 10,000 idle connections, and SIGTERM
with a long poll in flight.

Each class runs one daemon with the config it needs. Every wait is bounded
by a socket timeout or a deadline; the file runs in well under a minute.
"""
import collections
import json
import os
import resource
import signal
import socket
import tempfile
import time
import unittest

from sluice_harness import ASAN, SANITIZER_MARKS, VALGRIND, Sluice

SLOW = 20.0 if VALGRIND else 4.0 if ASAN else 1.0  # time allowances scale under sanitizers and valgrind

HEALTH = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
HEALTH_BODY = b'{"status":"ok"}'
REJECT_BODY = b'{"message":"request rejected by the HTTP layer"}'
JSON_CT = "application/x-amz-json-1.0"
ACCOUNT = "000000000000"

Resp = collections.namedtuple("Resp", "line headers body")


def sqs(action, payload, extra=b"", version=b"1.1"):
    """A JSON-protocol SQS request, Host: t (so queue URLs are http://t/...)."""
    body = json.dumps(payload).encode()
    head = (b"POST / HTTP/%s\r\nHost: t\r\nX-Amz-Target: AmazonSQS.%s\r\nContent-Type: %s\r\n"
            b"Content-Length: %d\r\n%s\r\n" % (version, action.encode(), JSON_CT.encode(), len(body), extra))
    return head + body


def queue_url(name):
    return "http://t/%s/%s" % (ACCOUNT, name)


def url_body(name):
    return json.dumps({"QueueUrl": queue_url(name)}, separators=(",", ":")).encode()


class Conn:
    """A raw client connection that reads framed responses."""

    def __init__(self, port, timeout=5.0 * SLOW, source=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed; buffered %r" % self.buf[:200])
        self.buf += chunk

    def response(self):
        """Reads one response (a 100 Continue counts as one)."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, value = line.split(b":", 1)
            headers[name.strip().lower().decode()] = value.strip().decode()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Resp(lines[0], headers, body)

    def pending(self, wait=0.0):
        """Bytes available within wait seconds, without consuming a response."""
        self.sock.settimeout(wait if wait > 0 else 0.001)
        try:
            chunk = self.sock.recv(65536)
            if chunk:
                self.buf += chunk
        except (socket.timeout, BlockingIOError):
            pass
        finally:
            self.sock.settimeout(5.0 * SLOW)
        return self.buf

    def eof(self, timeout=3.0 * SLOW):
        """True once the server closes cleanly (EOF). A reset raises."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self):
        self.sock.close()


class HttpCase(unittest.TestCase):
    """One daemon per class, started with the class's YAML config."""

    config = ""

    @classmethod
    def setUpClass(cls):
        fd, cls.config_path = tempfile.mkstemp(prefix="sluice-http-", suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(cls.config)
        cls.sluice = Sluice(config=cls.config_path).start()
        cls.port = cls.sluice.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.sluice.stop()
        log = cls.sluice.read_log()
        cls.sluice.cleanup()
        os.unlink(cls.config_path)
        if rc != 0:
            raise AssertionError("sluice exited with %s on SIGTERM; log:\n%s" % (rc, log))
        check_log(log)

    def conn(self, source=None):
        c = Conn(self.port, source=source)
        self.addCleanup(c.close)
        return c

    def assertAdmittedSoon(self):
        """A new connection is served once a closed one is seen (the close
        is seen asynchronously: retry briefly)."""
        deadline = time.monotonic() + 3 * SLOW
        while True:
            c = self.conn()
            c.send(HEALTH)
            r = c.response()
            if r.line == b"HTTP/1.1 200 OK" or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertOk(r, HEALTH_BODY)

    def assertHealthy(self):
        c = self.conn()
        c.send(HEALTH)
        self.assertOk(c.response(), HEALTH_BODY)

    def assertOk(self, r, body):
        self.assertEqual(r.line, b"HTTP/1.1 200 OK")
        self.assertEqual(r.body, body)

    def assertRejected(self, c, line):
        """The layer's own error: exact line and body, Connection: close, then a clean EOF."""
        r = c.response()
        self.assertEqual(r.line, line)
        self.assertEqual(r.body, REJECT_BODY)
        self.assertEqual(r.headers.get("connection"), "close")
        self.assertTrue(c.eof(), "connection not closed after %r" % line)
        self.assertEqual(c.buf, b"")


def check_log(log):
    if any(m in log for m in SANITIZER_MARKS):
        raise AssertionError("sanitizer report in sluice log:\n" + log)
    bad = [l for l in log.splitlines() if "level=error" in l or "level=fatal" in l]
    if bad:
        raise AssertionError("errors in sluice log:\n" + "\n".join(bad))


def rss_kb(sluice):
    with open("/proc/%d/status" % sluice.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


QUEUES = ["http-q%d" % i for i in range(12)]


class HttpProtocol(HttpCase):
    config = ("server:\n  max_body_bytes: 65536\nqueues:\n"
              + "".join("  - name: %s\n" % q for q in QUEUES + ["http-lp"]))

    def test_keep_alive_many_requests(self):
        c = self.conn()
        for i in range(200):
            if i % 2:
                c.send(HEALTH)
                self.assertOk(c.response(), HEALTH_BODY)
            else:
                c.send(sqs("GetQueueUrl", {"QueueName": QUEUES[i % 12]}))
                r = c.response()
                self.assertOk(r, url_body(QUEUES[i % 12]))
                self.assertEqual(r.headers["content-type"], JSON_CT)
                self.assertNotIn("connection", r.headers)

    def test_pipelining_replies_in_order_and_complete(self):
        c = self.conn()
        reqs = []
        for q in QUEUES:
            reqs.append(sqs("GetQueueUrl", {"QueueName": q}))
            reqs.append(HEALTH)
        reqs.append(sqs("ListQueues", {}))
        c.send(b"".join(reqs))  # 25 requests in one send
        for q in QUEUES:
            self.assertOk(c.response(), url_body(q))
            self.assertOk(c.response(), HEALTH_BODY)
        r = c.response()
        self.assertEqual(r.line, b"HTTP/1.1 200 OK")
        self.assertEqual(len(json.loads(r.body)["QueueUrls"]), len(QUEUES) + 1)
        self.assertEqual(c.pending(0.1), b"")

    def test_pipelined_mixed_sizes_split_at_odd_offsets(self):
        c = self.conn()
        stream = b"".join(sqs("GetQueueUrl", {"QueueName": q}) + HEALTH for q in QUEUES)
        for i in range(0, len(stream), 37):  # requests straddle the sends
            c.send(stream[i:i + 37])
        for q in QUEUES:
            self.assertOk(c.response(), url_body(q))
            self.assertOk(c.response(), HEALTH_BODY)

    def test_chunked_body_split_with_extensions_and_trailers(self):
        c = self.conn()
        payload = json.dumps({"QueueName": "http-q3"}).encode()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nX-Amz-Target: AmazonSQS.GetQueueUrl\r\n"
               b"Content-Type: application/x-amz-json-1.0\r\nTransfer-Encoding: chunked\r\n\r\n")
        pieces = [payload[:5], payload[5:11], payload[11:]]
        wire = b""
        for i, p in enumerate(pieces):
            ext = b';name="v a l";x=1' if i == 1 else b""
            wire += b"%x%s\r\n%s\r\n" % (len(p), ext, p)
        wire += b"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
        for i in range(0, len(wire), 7):
            c.send(wire[i:i + 7])
            time.sleep(0.002)
        self.assertOk(c.response(), url_body("http-q3"))
        c.send(HEALTH)  # framing ended exactly: the connection goes on
        self.assertOk(c.response(), HEALTH_BODY)

    def test_expect_100_continue(self):
        c = self.conn()
        body = json.dumps({"QueueName": "http-q5"}).encode()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nX-Amz-Target: AmazonSQS.GetQueueUrl\r\n"
               b"Content-Type: application/x-amz-json-1.0\r\nExpect: 100-continue\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))
        r = c.response()
        self.assertEqual(r.line, b"HTTP/1.1 100 Continue")
        self.assertEqual(r.headers, {})
        self.assertEqual(c.buf, b"")
        c.send(body)
        self.assertOk(c.response(), url_body("http-q5"))

    def test_expect_100_continue_chunked(self):
        c = self.conn()
        body = json.dumps({"QueueName": "http-q6"}).encode()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nX-Amz-Target: AmazonSQS.GetQueueUrl\r\n"
               b"Content-Type: application/x-amz-json-1.0\r\nExpect: 100-continue\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        self.assertEqual(c.response().line, b"HTTP/1.1 100 Continue")
        c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        self.assertOk(c.response(), url_body("http-q6"))

    def test_expect_100_continue_over_limit_gets_413_not_100(self):
        c = self.conn()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nX-Amz-Target: AmazonSQS.ListQueues\r\n"
               b"Content-Type: application/x-amz-json-1.0\r\nExpect: 100-continue\r\n"
               b"Content-Length: 1000000\r\n\r\n")
        self.assertRejected(c, b"HTTP/1.1 413 Content Too Large")

    def test_431_oversized_head(self):
        c = self.conn()
        c.send(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        self.assertRejected(c, b"HTTP/1.1 431 Request Header Fields Too Large")

    def test_431_too_many_header_lines(self):
        c = self.conn()
        c.send(b"GET /health HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(70)) + b"\r\n")
        self.assertRejected(c, b"HTTP/1.1 431 Request Header Fields Too Large")

    def test_413_declared_body(self):
        c = self.conn()
        body = b"x" * 70000  # over max_body_bytes, and sent: the reply must survive it unread
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nX-Amz-Target: AmazonSQS.ListQueues\r\n"
               b"Content-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        self.assertRejected(c, b"HTTP/1.1 413 Content Too Large")

    def test_413_chunked_body_one_big_chunk(self):
        c = self.conn()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nX-Amz-Target: AmazonSQS.ListQueues\r\n"
               b"Content-Type: application/x-amz-json-1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"20000\r\n" + b"y" * 4000)
        self.assertRejected(c, b"HTTP/1.1 413 Content Too Large")

    def test_413_chunked_body_many_small_chunks(self):
        c = self.conn()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nX-Amz-Target: AmazonSQS.ListQueues\r\n"
               b"Content-Type: application/x-amz-json-1.0\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"3e8\r\n" + b"z" * 1000 + b"\r\n"
        c.send(chunk * 70)  # 70,000 bytes in total
        self.assertRejected(c, b"HTTP/1.1 413 Content Too Large")

    def test_400_malformed_and_smuggling_shapes(self):
        cases = [
            b"GET /health HTTP/1.1\nHost: t\n\n",                                           # bare LF
            b"GET /health HTTP/1.1\r\nHost : t\r\n\r\n",                                    # space before colon
            b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\n\r\n",               # obs-fold
            b"GET /health HTTP/1.1\r\nContent-Length: abc\r\n\r\n",                         # bad length
            b"GET /health HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",                        # list
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",          # differing CLs
            # CL.TE: a front end honouring Content-Length would see one request, we would see two
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n",
            # TE.CL
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
            b"1\r\nA\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",              # TE in 1.0
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",                 # bad chunk size
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",           # chunk without CRLF
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",                                 # TLS hello
            b"GET\r\n\r\n",                                                                   # no target
        ]
        for raw in cases:
            with self.subTest(raw=raw[:50]):
                c = Conn(self.port)
                try:
                    c.send(raw)
                    self.assertRejected(c, b"HTTP/1.1 400 Bad Request")
                finally:
                    c.close()
        self.assertHealthy()

    def test_501_unknown_transfer_coding(self):
        c = self.conn()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
        self.assertRejected(c, b"HTTP/1.1 501 Not Implemented")

    def test_505_version(self):
        for version in (b"HTTP/2.0", b"HTTP/1.2", b"HTTP/3.0"):
            with self.subTest(version=version):
                c = Conn(self.port)
                try:
                    c.send(b"GET /health " + version + b"\r\nHost: t\r\n\r\n")
                    self.assertRejected(c, b"HTTP/1.1 505 HTTP Version Not Supported")
                finally:
                    c.close()

    def test_http10_without_keep_alive(self):
        c = self.conn()
        c.send(b"GET /health HTTP/1.0\r\n\r\n")
        r = c.response()
        self.assertOk(r, HEALTH_BODY)
        self.assertEqual(r.headers["connection"], "close")
        self.assertTrue(c.eof())

    def test_http10_with_keep_alive(self):
        c = self.conn()
        for _ in range(3):
            c.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.response()
            self.assertOk(r, HEALTH_BODY)
            self.assertEqual(r.headers["connection"], "keep-alive")
        c.send(sqs("GetQueueUrl", {"QueueName": "http-q2"}, version=b"1.0",
                   extra=b"Connection: keep-alive\r\n"))
        self.assertOk(c.response(), url_body("http-q2"))
        self.assertFalse(c.eof(0.2))

    def test_connection_close_honored(self):
        c = self.conn()
        # the request after the one that says close is never answered
        c.send(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + HEALTH)
        r = c.response()
        self.assertOk(r, HEALTH_BODY)
        self.assertEqual(r.headers["connection"], "close")
        self.assertTrue(c.eof())
        self.assertEqual(c.buf, b"")

    def test_client_closes_mid_request(self):
        partials = [
            b"GET /health HTTP/1.1\r\nHost:",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"a\":",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
            HEALTH + b"GET /hea",  # one complete, one partial, then gone
        ]
        for raw in partials:
            c = Conn(self.port)
            c.send(raw)
            time.sleep(0.02)
            c.close()
        # a client that resets mid-request
        c = Conn(self.port)
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nxx")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
        time.sleep(0.05)
        self.assertHealthy()
        check_log(self.sluice.read_log())

    def test_client_closes_mid_long_poll(self):
        url = queue_url("http-lp")
        for how in ("close", "reset"):
            with self.subTest(how=how):
                c = Conn(self.port)
                c.send(sqs("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 5}))
                self.assertEqual(c.pending(0.3), b"")  # waiting
                if how == "reset":
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.close()
                time.sleep(0.1)
                self.assertHealthy()
                # the abandoned poll must not swallow the next message
                d = self.conn()
                d.send(sqs("SendMessage", {"QueueUrl": url, "MessageBody": "after-" + how}))
                self.assertEqual(d.response().line, b"HTTP/1.1 200 OK")
                d.send(sqs("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 1}))
                r = d.response()
                self.assertEqual(r.line, b"HTTP/1.1 200 OK")
                msgs = json.loads(r.body)["Messages"]
                self.assertEqual([m["Body"] for m in msgs], ["after-" + how])
                d.send(sqs("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": msgs[0]["ReceiptHandle"]}))
                self.assertEqual(d.response().line, b"HTTP/1.1 200 OK")
        check_log(self.sluice.read_log())

    def test_long_poll_answered_by_send_on_another_connection(self):
        url = queue_url("http-lp")
        waiter, sender = self.conn(), self.conn()
        # the poll and a pipelined request behind it on the same connection
        waiter.send(sqs("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 5}) + HEALTH)
        self.assertEqual(waiter.pending(0.2), b"")
        t0 = time.monotonic()
        sender.send(sqs("SendMessage", {"QueueUrl": url, "MessageBody": "wake"}))
        self.assertEqual(sender.response().line, b"HTTP/1.1 200 OK")
        r = waiter.response()
        self.assertEqual(r.line, b"HTTP/1.1 200 OK")
        msgs = json.loads(r.body)["Messages"]
        self.assertEqual(msgs[0]["Body"], "wake")
        self.assertOk(waiter.response(), HEALTH_BODY)
        self.assertLess(time.monotonic() - t0, 0.5 * SLOW)
        waiter.send(sqs("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": msgs[0]["ReceiptHandle"]}))
        self.assertEqual(waiter.response().line, b"HTTP/1.1 200 OK")

    def test_client_that_never_reads_does_not_block_others(self):
        rss0 = rss_kb(self.sluice)
        hog = self.conn()
        hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        hog.sock.setblocking(False)
        batch = HEALTH * 2000
        sent, goal = 0, 64 << 20
        t0 = last = time.monotonic()
        # pipeline until the server stops reading us (bounded in bytes and time)
        while sent < goal and time.monotonic() - t0 < 5 * SLOW and time.monotonic() - last < 0.3:
            try:
                sent += hog.sock.send(batch)
                last = time.monotonic()
            except BlockingIOError:
                time.sleep(0.005)
        # What was sent waits in socket buffers, not in the daemon: its replies
        # would be ~5x the requests if it kept reading.
        # Sanitizers and valgrind hold freed blocks in quarantine (valgrind's
        # --freelist-vol is 20 MB), so RSS says nothing there; the plain run checks it.
        grown = rss_kb(self.sluice) - rss0
        if not ASAN and not VALGRIND:
            self.assertLess(grown, 48 * 1024, "RSS grew %d kB while a client read nothing (sent %d)" % (grown, sent))
        for _ in range(20):
            t1 = time.monotonic()
            self.assertHealthy()
            self.assertLess(time.monotonic() - t1, 0.5 * SLOW)
        hog.close()
        time.sleep(0.05)
        self.assertHealthy()


class HttpTimeouts(HttpCase):
    config = "server:\n  idle_timeout_ms: 300\n  request_timeout_ms: 600\n"

    def test_idle_keep_alive_connection_closed(self):
        c = self.conn()
        c.send(HEALTH)
        self.assertOk(c.response(), HEALTH_BODY)
        t0 = time.monotonic()
        self.assertTrue(c.eof(3 * SLOW))
        took = time.monotonic() - t0
        self.assertGreater(took, 0.2)
        self.assertLess(took, 1.5 * SLOW)
        self.assertEqual(c.buf, b"")  # closed without a word

    def test_never_used_connection_closed(self):
        c = self.conn()
        self.assertTrue(c.eof(3 * SLOW))
        self.assertEqual(c.buf, b"")

    def test_slowloris_head_gets_408(self):
        c = self.conn()
        c.send(b"GET /health HTTP/1.1\r\n")
        t0 = time.monotonic()
        # one header line every 100 ms: bytes keep coming, the request never completes
        while time.monotonic() - t0 < 3 * SLOW and not c.pending(0.1):
            c.send(b"X-Slow: 1\r\n")
        took = time.monotonic() - t0
        self.assertRejected(c, b"HTTP/1.1 408 Request Timeout")
        self.assertGreater(took, 0.5)
        self.assertLess(took, 1.5 * SLOW)
        self.assertHealthy()

    def test_slow_body_gets_408(self):
        c = self.conn()
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3 * SLOW and not c.pending(0.1):
            c.send(b"x")
        self.assertRejected(c, b"HTTP/1.1 408 Request Timeout")
        self.assertLess(time.monotonic() - t0, 1.5 * SLOW)


class HttpConnectionLimit(HttpCase):
    config = "server:\n  max_connections: 4\n"

    def test_503_beyond_max_connections_then_recovers(self):
        held = [self.conn() for _ in range(4)]
        for c in held:
            c.send(HEALTH)
            self.assertOk(c.response(), HEALTH_BODY)
        for _ in range(3):
            extra = self.conn()
            extra.send(HEALTH)  # sent before the 503 comes: it must still arrive intact
            r = extra.response()
            self.assertEqual(r.line, b"HTTP/1.1 503 Service Unavailable")
            self.assertEqual(r.headers["connection"], "close")
            self.assertEqual(r.headers["retry-after"], "1")
            self.assertEqual(r.body, b"")
            self.assertTrue(extra.eof())
        for c in held:  # the admitted ones are unaffected
            c.send(HEALTH)
            self.assertOk(c.response(), HEALTH_BODY)
        held[0].close()
        self.assertAdmittedSoon()


class HttpPerClientLimit(HttpCase):
    """server.max_connections_per_client counts open connections by the
    client's address: loopback has a whole /8, so 127.0.0.2 is another
    client."""
    config = "server:\n  max_connections_per_client: 3\n"

    def assertBusy(self, c):
        c.send(HEALTH)
        r = c.response()
        self.assertEqual(r.line, b"HTTP/1.1 503 Service Unavailable")
        self.assertEqual(r.headers["retry-after"], "1")
        self.assertTrue(c.eof())

    def test_503_beyond_the_bound_for_that_address_only(self):
        held = [self.conn() for _ in range(3)]
        for c in held:
            c.send(HEALTH)
            self.assertOk(c.response(), HEALTH_BODY)
        self.assertBusy(self.conn())
        other = [self.conn(source="127.0.0.2") for _ in range(3)]  # another client: its own three
        for c in other:
            c.send(HEALTH)
            self.assertOk(c.response(), HEALTH_BODY)
        self.assertBusy(self.conn(source="127.0.0.2"))
        for c in held:  # the admitted ones are unaffected
            c.send(HEALTH)
            self.assertOk(c.response(), HEALTH_BODY)
        held[0].close()
        self.assertAdmittedSoon()


class HttpPerClientLimitDualStack(HttpPerClientLimit):
    """The same bound on a dual-stack listener ("::"): IPv4 clients arrive as ::ffff:a.b.c.d and
    are still counted by their IPv4 address, not lumped into one IPv6 /64 (an IPv6 client is
    counted by its /64)."""
    config = "server:\n  host: \"::\"\n  max_connections_per_client: 3\n"


@unittest.skipIf(VALGRIND, "under valgrind: 10,000 connections measure capacity, not memory")
class HttpManyIdle(HttpCase):
    COUNT = 10000

    def test_10000_idle_connections_and_health_stays_fast(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = self.COUNT + 256
        if hard != resource.RLIM_INFINITY and hard < need:
            self.skipTest("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        rss0 = rss_kb(self.sluice)
        socks = []
        try:
            t0 = time.monotonic()
            for _ in range(self.COUNT):
                s = socket.socket()
                s.settimeout(5 * SLOW)
                s.connect(("127.0.0.1", self.port))
                socks.append(s)
            connect_s = time.monotonic() - t0
            for _ in range(5):
                t1 = time.monotonic()
                self.assertHealthy()
                self.assertLess(time.monotonic() - t1, 0.5 * SLOW)
            # the idle ones were all accepted and still work
            for s in socks[::997]:
                s.sendall(HEALTH)
                data = b""
                while not data.endswith(HEALTH_BODY):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk)
                    data += chunk
                self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"))
            grown = rss_kb(self.sluice) - rss0
            if not ASAN:
                self.assertLess(grown, 100 * 1024, "RSS grew by %d kB for %d connections" % (grown, self.COUNT))
            self.assertLess(connect_s, 20 * SLOW)
        finally:
            for s in socks:
                s.close()
        time.sleep(0.1)
        self.assertHealthy()


class HttpManyLongPolls(HttpCase):
    """10,000 ReceiveMessage long polls at once on an empty queue: each costs a connection and a
    waiter, the daemon stays responsive, and messages sent meanwhile each answer exactly one poll."""

    COUNT = 10000
    SENT = 50
    config = "queues:\n  - name: many-polls\n"

    def receive_request(self):
        url = "http://127.0.0.1:%d/000000000000/many-polls" % self.port
        body = json.dumps({"QueueUrl": url, "WaitTimeSeconds": 20, "MaxNumberOfMessages": 1}).encode()
        return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\n"
                b"X-Amz-Target: AmazonSQS.ReceiveMessage\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def test_10000_long_polls_then_each_message_answers_one(self):
        if VALGRIND:
            self.skipTest("10,000 connections under valgrind take minutes")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = self.COUNT + 256
        if hard != resource.RLIM_INFINITY and hard < need:
            self.skipTest("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        import selectors
        sel = selectors.DefaultSelector()
        socks, request = [], self.receive_request()
        rss0 = rss_kb(self.sluice)
        try:
            for _ in range(self.COUNT):
                s = socket.socket()
                s.settimeout(5 * SLOW)
                s.connect(("127.0.0.1", self.port))
                s.sendall(request)
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
                socks.append(s)
            time.sleep(1.0 * SLOW)  # the last requests reach their waits
            self.assertEqual(sel.select(timeout=0), [], "a long poll answered with the queue empty")
            t1 = time.monotonic()
            self.assertHealthy()
            self.assertLess(time.monotonic() - t1, 0.5 * SLOW)
            sqs = self.sluice.client()
            url = sqs.get_queue_url(QueueName="many-polls")["QueueUrl"]
            for i in range(self.SENT):
                sqs.send_message(QueueUrl=url, MessageBody="poll-%d" % i)
            bodies, answered = [], 0
            deadline = time.monotonic() + 10 * SLOW
            while len(bodies) < self.SENT and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=0.5):
                    data = key.fileobj.recv(65536)
                    sel.unregister(key.fileobj)
                    answered += 1
                    self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:200])
                    self.assertIn(b"\r\n\r\n", data)
                    msgs = json.loads(data.split(b"\r\n\r\n", 1)[1] or b"{}").get("Messages", [])
                    bodies += [m["Body"] for m in msgs]
            self.assertEqual(sorted(bodies), sorted("poll-%d" % i for i in range(self.SENT)))
            self.assertEqual(answered, self.SENT, "polls answered without a message")
            grown = rss_kb(self.sluice) - rss0
            if not ASAN:
                self.assertLess(grown, 200 * 1024, "RSS grew by %d kB for %d long polls" % (grown, self.COUNT))
        finally:
            sel.close()
            for s in socks:
                s.close()
        time.sleep(0.2)
        self.assertHealthy()


class HttpShutdown(unittest.TestCase):
    """SIGTERM drains: a long poll in flight is answered, then the daemon exits 0."""

    def test_sigterm_with_long_poll_in_flight(self):
        fd, path = tempfile.mkstemp(prefix="sluice-http-", suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write("queues:\n  - name: http-lp\n")
        self.addCleanup(os.unlink, path)
        sluice = Sluice(config=path).start()
        self.addCleanup(sluice.cleanup)
        poll, idle = Conn(sluice.port), Conn(sluice.port)
        self.addCleanup(poll.close)
        self.addCleanup(idle.close)
        idle.send(HEALTH)
        self.assertEqual(idle.response().body, HEALTH_BODY)
        poll.send(sqs("ReceiveMessage", {"QueueUrl": queue_url("http-lp"), "WaitTimeSeconds": 10}))
        self.assertEqual(poll.pending(0.3), b"")
        t0 = time.monotonic()
        sluice.proc.send_signal(signal.SIGTERM)
        r = poll.response()
        self.assertEqual(r.line, b"HTTP/1.1 200 OK")
        self.assertEqual(r.body, b"{}")
        self.assertEqual(r.headers["connection"], "close")
        self.assertTrue(poll.eof())
        self.assertTrue(idle.eof())
        rc = sluice.proc.wait(5 * SLOW)
        took = time.monotonic() - t0
        log = sluice.read_log()
        self.assertEqual(rc, 0, log)
        self.assertLess(took, 2.0 * SLOW)
        check_log(log)
        self.assertNotIn("shutdown_forced", log)


if __name__ == "__main__":
    unittest.main()
