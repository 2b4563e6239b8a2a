"""Shared pieces of the SNS integration tests: a test case with an SNS client
next to the SQS one, AWS-exact error assertions, and a loopback HTTP endpoint
that records what SNS posts to it and answers as told."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore

from sluice_harness import ACCOUNT, REGION, SluiceTestCase
from sqs_truth import wait_until


def topic_arn(name):
    return "arn:aws:sns:%s:%s:%s" % (REGION, ACCOUNT, name)


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (REGION, ACCOUNT, name)


class SnsTestCase(SluiceTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sns = cls.sluice.client("sns")

    def uniq(self, name):
        fifo = name.endswith(".fifo")
        base = name[:-5] if fifo else name
        return ("%s-%s" % (base, self.id().split(".")[-1]))[:70] + (".fifo" if fifo else "")

    def topic(self, name, **attrs):
        if name.endswith(".fifo"):
            attrs.setdefault("FifoTopic", "true")
        return self.sns.create_topic(Name=self.uniq(name), Attributes={k: str(v) for k, v in attrs.items()})[
            "TopicArn"]

    def queue(self, name, **attrs):
        """Returns (url, arn) of a new queue."""
        url = super().queue(name, **attrs)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def subscribe_queue(self, topic, qarn, **attrs):
        return self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                                  Attributes={k: str(v) for k, v in attrs.items()},
                                  ReturnSubscriptionArn=True)["SubscriptionArn"]

    def assertSnsError(self, code, message, status, fn, *args, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(*args, **kwargs)
        resp = cm.exception.response
        err = resp["Error"]
        self.assertEqual(err["Code"], code, err)
        if message is not None:
            self.assertEqual(err.get("Message"), message, err)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err

    def receive_all(self, url, want, timeout=5.0, **kw):
        """Receives (and deletes) until want messages arrived or timeout."""
        got, deadline = [], time.time() + timeout
        while len(got) < want and time.time() < deadline:
            ms = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                          MessageAttributeNames=["All"], AttributeNames=["All"], **kw).get(
                "Messages", [])
            for m in ms:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            got += ms
        return got


class Endpoint:
    """A loopback HTTP server for http subscriptions. fail_first answers the
    first N POSTs of notifications with status fail_status; every request is
    recorded as (headers, body)."""

    def __init__(self, fail_first=0, fail_status=500, fail_always=False):
        self.requests = []
        self.lock = threading.Lock()
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.fail_always = fail_always
        ep = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                kind = self.headers.get("x-amz-sns-message-type")
                with ep.lock:
                    ep.requests.append((dict(self.headers), body, time.time()))
                    notifications = sum(1 for h, _, _ in ep.requests
                                        if h.get("x-amz-sns-message-type") == "Notification")
                fail = kind == "Notification" and (ep.fail_always or notifications <= ep.fail_first)
                self.send_response(ep.fail_status if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def of_type(self, kind):
        with self.lock:
            return [(h, b, t) for h, b, t in self.requests if h.get("x-amz-sns-message-type") == kind]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def envelope(body):
    return json.loads(body)
