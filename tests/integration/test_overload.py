"""Load shedding (server.max_pending_requests): past the admission bound a
request is refused at once — 503 (429 for Lambda) with Retry-After: 1 in its
protocol's shape — the requests admitted before it succeed, long polls that
merely wait do not count, and once the load is gone every request is
admitted again.

Functional, not timing: the bound is tiny (4) and the load that fills it is
made deterministic — pipelined requests the daemon reads in one go (their
replies wait for the log, and a loop iteration takes on at most the bound),
or synchronous invocations of a plugin function that sleeps, which stay in
progress for seconds. Every wait is bounded.
"""
import json
import os
import threading
import time
import unittest
import urllib.parse

import boto3
import botocore
from botocore.config import Config

from sluice_harness import ACCOUNT, REGION
from test_http import SLOW, HttpCase, sqs

BOUND = 4
BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
TESTFN_SO = os.path.join(BUILD, "tests", "plugins", "testfn.so")
THROTTLED_MSG = "Too many requests in progress; retry after a pause."


def form_post(form, host=b"t"):
    body = urllib.parse.urlencode(form).encode()
    return (b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (host, len(body), body))


def get(path):
    return b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode()


class OverloadCase(HttpCase):
    config = "server:\n  max_pending_requests: %d\n" % BOUND

    def pipeline(self, requests):
        """Sends the requests in one write on one connection; their responses in order."""
        c = self.conn()
        c.send(b"".join(requests))
        return c, [c.response() for _ in requests]

    def assertRetryAfter(self, r):
        self.assertEqual(r.headers.get("retry-after"), "1", r)
        self.assertNotIn("connection", r.headers)  # the connection stays open

    def assertShedJson(self, r):
        self.assertEqual(r.line, b"HTTP/1.1 503 Service Unavailable")
        self.assertRetryAfter(r)
        self.assertEqual(json.loads(r.body), {"message": THROTTLED_MSG})


class PipelinedOverload(OverloadCase):
    """Pipelined requests: a loop iteration admits BOUND, refuses the rest."""

    def create_queue(self, name):
        c = self.conn()
        c.send(sqs("CreateQueue", {"QueueName": name}))
        self.assertEqual(c.response().line, b"HTTP/1.1 200 OK")
        return "http://t/%s/%s" % (ACCOUNT, name)

    def count(self, url):
        c = self.conn()
        c.send(sqs("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]}))
        return int(json.loads(c.response().body)["Attributes"]["ApproximateNumberOfMessages"])

    def test_json_sends_past_the_bound_are_throttled_then_admitted_again(self):
        url = self.create_queue("json-burst")
        n = 24
        c, rs = self.pipeline([sqs("SendMessage", {"QueueUrl": url, "MessageBody": "m%d" % i}) for i in range(n)])
        codes = [r.line for r in rs]
        self.assertEqual(codes[:BOUND], [b"HTTP/1.1 200 OK"] * BOUND)
        shed = [r for r in rs if r.line != b"HTTP/1.1 200 OK"]
        self.assertGreater(len(shed), 0)
        for r in shed:
            self.assertEqual(r.line, b"HTTP/1.1 503 Service Unavailable")
            self.assertRetryAfter(r)
            self.assertEqual(r.headers["x-amzn-query-error"], "RequestThrottled;Receiver")
            self.assertEqual(json.loads(r.body),
                             {"__type": "com.amazonaws.sqs#RequestThrottled", "message": THROTTLED_MSG})
        # the admitted ones happened, the refused ones did not
        self.assertEqual(self.count(url), n - len(shed))
        # the burst is over: the same connection is admitted again
        c.send(sqs("SendMessage", {"QueueUrl": url, "MessageBody": "after"}))
        self.assertEqual(c.response().line, b"HTTP/1.1 200 OK")
        self.assertEqual(self.count(url), n - len(shed) + 1)

    def test_query_and_sns_refusals_in_their_shapes(self):
        url = self.create_queue("query-burst")
        reqs = [form_post({"Action": "SendMessage", "Version": "2012-11-05", "QueueUrl": url,
                           "MessageBody": "q%d" % i}) for i in range(12)]
        reqs += [form_post({"Action": "Publish", "Version": "2010-03-31",
                            "TopicArn": "arn:aws:sns:%s:%s:none" % (REGION, ACCOUNT), "Message": "p"})] * 4
        _, rs = self.pipeline(reqs)
        self.assertEqual([r.line for r in rs[:BOUND]], [b"HTTP/1.1 200 OK"] * BOUND)
        sqs_shed = [r for r in rs[BOUND:12] if r.line != b"HTTP/1.1 200 OK"]
        self.assertGreater(len(sqs_shed), 0)
        for r in sqs_shed:
            self.assertEqual(r.line, b"HTTP/1.1 503 Service Unavailable")
            self.assertRetryAfter(r)
            self.assertIn(b"<Code>RequestThrottled</Code>", r.body)
            self.assertIn(b"<Type>Receiver</Type>", r.body)
        for r in rs[12:]:  # still over the bound: refused before the (unknown) topic is looked up
            self.assertEqual(r.line, b"HTTP/1.1 503 Service Unavailable")
            self.assertRetryAfter(r)
            self.assertIn(b'xmlns="http://sns.amazonaws.com/doc/2010-03-31/"', r.body)
            self.assertIn(b"<Code>ThrottlingException</Code>", r.body)

    def test_health_is_answered_whatever_the_load(self):
        url = self.create_queue("health-burst")
        reqs = [sqs("SendMessage", {"QueueUrl": url, "MessageBody": "h%d" % i}) for i in range(BOUND + 2)]
        _, rs = self.pipeline(reqs + [get("/health"), get("/_sluice/tables")])
        self.assertEqual(rs[BOUND + 1].line, b"HTTP/1.1 503 Service Unavailable")
        self.assertEqual(rs[-2].line, b"HTTP/1.1 200 OK")
        self.assertEqual(rs[-1].line, b"HTTP/1.1 503 Service Unavailable")  # the tables view is shed
        self.assertRetryAfter(rs[-1])

    def test_waiting_long_polls_are_not_load(self):
        waiting = self.create_queue("poll-idle")
        busy = self.create_queue("poll-busy")
        polls = []
        for _ in range(3 * BOUND):
            c = self.conn()
            c.send(sqs("ReceiveMessage", {"QueueUrl": waiting, "WaitTimeSeconds": 20}))
            polls.append(c)
        time.sleep(0.2 * SLOW)  # read and parked by now (were they load, the sends below would be refused)
        for c in polls:
            self.assertEqual(c.pending(), b"")  # still waiting
        _, rs = self.pipeline([sqs("SendMessage", {"QueueUrl": busy, "MessageBody": "b%d" % i})
                               for i in range(BOUND - 1)])
        self.assertEqual([r.line for r in rs], [b"HTTP/1.1 200 OK"] * (BOUND - 1))


FN_CONFIG = """
server:
  max_pending_requests: %(bound)d
queues:
  - name: inbox
topics:
  - name: news
functions:
  - name: sleepy
    handler: %(so)s:sleepy
    concurrency: 8
    timeout: 60
gateway:
  routes:
    - { method: POST, path: /inbox, integration: enqueue, queue: inbox }
"""


class HeldBySlowCalls(OverloadCase):
    """BOUND synchronous invocations of a sleeping function fill the bound for
    seconds; meanwhile every API refuses in its shape through real clients."""

    config = FN_CONFIG % {"bound": BOUND, "so": TESTFN_SO}
    NAP_MS = int(4000 * SLOW)

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(TESTFN_SO):
            raise unittest.SkipTest("build/tests/plugins/testfn.so is not built (make unit)")
        super().setUpClass()
        cls.sqs = cls.sluice.client()
        cls.sns = cls.sluice.client("sns")
        cls.lam = cls.sluice.client("lambda", read_timeout=120)
        cls.url = cls.sqs.get_queue_url(QueueName="inbox")["QueueUrl"]
        cls.topic = "arn:aws:sns:%s:%s:news" % (REGION, ACCOUNT)

    def hold(self):
        """Starts BOUND slow invocations; returns once the daemon refuses for load."""
        results = []

        def call():
            lam = self.sluice.client("lambda", read_timeout=120)
            try:
                r = lam.invoke(FunctionName="sleepy", Payload=json.dumps({"ms": self.NAP_MS}).encode())
                results.append(r["StatusCode"])
            finally:
                lam.close()

        threads = [threading.Thread(target=call) for _ in range(BOUND)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5 * SLOW
        while True:  # the tables view: a cheap request that is refused once the bound is full
            c = self.conn()
            c.send(get("/_sluice/tables"))
            if c.response().line.startswith(b"HTTP/1.1 503") or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return threads, results

    def release(self, threads, results):
        for t in threads:
            t.join(self.NAP_MS / 1000 + 30 * SLOW)
        self.assertEqual(results, [200] * BOUND)

    def assertRefused(self, fn, code, status, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(**kwargs)
        resp = cm.exception.response
        self.assertEqual(resp["Error"]["Code"], code)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertEqual(resp["ResponseMetadata"]["HTTPHeaders"].get("retry-after"), "1")
        return resp

    def test_every_api_refuses_in_its_shape_then_admits_again(self):
        threads, results = self.hold()
        try:
            resp = self.assertRefused(self.sqs.send_message, "RequestThrottled", 503, QueueUrl=self.url,
                                      MessageBody="refused")
            self.assertEqual(resp["Error"]["Message"], THROTTLED_MSG)
            self.assertRefused(self.sns.publish, "ThrottlingException", 503, TopicArn=self.topic, Message="refused")
            self.assertRefused(self.lam.invoke, "TooManyRequestsException", 429, FunctionName="sleepy",
                               Payload=b'{"ms": 0}')
            c = self.conn()
            c.send(b"POST /inbox HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 2\r\n\r\n{}")
            self.assertShedJson(c.response())
            c.send(get("/health"))
            self.assertEqual(c.response().line, b"HTTP/1.1 200 OK")
            # an unmodified SDK treats the refusal as retryable: standard mode retries it
            retrying = boto3.client("sqs", endpoint_url=self.sluice.endpoint, region_name=REGION,
                                    aws_access_key_id="AKIDSLUICETEST", aws_secret_access_key="secret",
                                    config=Config(retries={"mode": "standard", "total_max_attempts": 2}))
            self.addCleanup(retrying.close)
            resp = self.assertRefused(retrying.send_message, "RequestThrottled", 503, QueueUrl=self.url,
                                      MessageBody="refused")
            self.assertEqual(resp["ResponseMetadata"]["RetryAttempts"], 1)
        finally:
            self.release(threads, results)
        # the slow calls have answered: everything is admitted again
        self.sqs.send_message(QueueUrl=self.url, MessageBody="admitted")
        self.sns.publish(TopicArn=self.topic, Message="admitted")
        c = self.conn()
        c.send(b"POST /inbox HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        self.assertEqual(c.response().line, b"HTTP/1.1 202 Accepted")
        n = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"])
        self.assertEqual(n["Attributes"]["ApproximateNumberOfMessages"], "2")  # the two admitted sends
        self.assertIn("http_shed", self.sluice.read_log())


if __name__ == "__main__":
    unittest.main()
