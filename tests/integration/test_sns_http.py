"""SNS http subscriptions against a loopback endpoint: the
SubscriptionConfirmation handshake through the SubscribeURL, the headers SNS
sends, retries under the delivery policy (an endpoint that fails N times and
then succeeds), exhaustion into the subscription's dead-letter queue, and 4xx
answers as permanent failures."""
import json
import time
import unittest
import urllib.request

from sns_truth import Endpoint, SnsTestCase, envelope
from sqs_truth import wait_until

FAST = json.dumps({"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 3,
                                          "numNoDelayRetries": 0, "numMinDelayRetries": 0,
                                          "numMaxDelayRetries": 0, "backoffFunction": "linear"}})


class HttpSubscriptions(SnsTestCase):
    def setUp(self):
        self.endpoints = []

    def tearDown(self):
        for e in self.endpoints:
            e.close()

    def endpoint(self, **kw):
        e = Endpoint(**kw)
        self.endpoints.append(e)
        return e

    def subscribe_confirmed(self, topic, ep, **attrs):
        r = self.sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=ep.url,
                               Attributes={k: str(v) for k, v in attrs.items()})
        self.assertEqual(r["SubscriptionArn"], "pending confirmation")
        conf = wait_until(lambda: ep.of_type("SubscriptionConfirmation"), timeout=10)
        self.assertTrue(conf, "no SubscriptionConfirmation arrived")
        headers, body, _ = conf[0]
        msg = json.loads(body)
        self.assertEqual(list(msg), ["Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL",
                                     "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"])
        self.assertEqual(len(msg["Token"]), 288)
        self.assertEqual(headers.get("x-amz-sns-topic-arn"), topic)
        self.assertNotIn("x-amz-sns-subscription-arn", headers)
        self.assertEqual(headers.get("User-Agent"), "Amazon Simple Notification Service Agent")
        subs = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual([s["SubscriptionArn"] for s in subs], ["PendingConfirmation"])
        # the endpoint visits the SubscribeURL, unsigned, as SNS's users do
        with urllib.request.urlopen(msg["SubscribeURL"], timeout=10) as r:
            xml = r.read().decode()
        self.assertIn("<ConfirmSubscriptionResult><SubscriptionArn>", xml)
        subs = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertTrue(subs[0]["SubscriptionArn"].startswith(topic + ":"))
        return subs[0]["SubscriptionArn"]

    def test_retries_until_the_endpoint_recovers(self):
        topic = self.topic("http-retry")
        ep = self.endpoint(fail_first=2)
        sub = self.subscribe_confirmed(topic, ep, DeliveryPolicy=FAST)
        mid = self.sns.publish(TopicArn=topic, Message="hello", Subject="s")["MessageId"]
        got = wait_until(lambda: len(ep.of_type("Notification")) >= 3, timeout=15)
        self.assertTrue(got, "expected three attempts, saw %d" % len(ep.of_type("Notification")))
        time.sleep(1.5)
        notes = ep.of_type("Notification")
        self.assertEqual(len(notes), 3)  # 2 failures, then delivered: no more
        for h, b, _ in notes:
            self.assertEqual(h["x-amz-sns-message-id"], mid)
            self.assertEqual(h["x-amz-sns-subscription-arn"], sub)
            self.assertEqual(h["Content-Type"], "text/plain; charset=UTF-8")
            env = json.loads(b)
            self.assertEqual((env["Type"], env["Message"], env["Subject"]), ("Notification", "hello", "s"))
        gaps = [notes[i + 1][2] - notes[i][2] for i in range(2)]
        for g in gaps:
            self.assertGreaterEqual(g, 0.8, gaps)  # minDelayTarget 1 s between attempts

    def test_exhausted_policy_goes_to_dlq(self):
        topic = self.topic("http-dlq")
        dlq_url, dlq = self.queue("dlq")
        ep = self.endpoint(fail_always=True)
        policy = json.dumps({"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 1}})
        self.subscribe_confirmed(topic, ep, DeliveryPolicy=policy,
                                 RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq}))
        mid = self.sns.publish(TopicArn=topic, Message="never delivered")["MessageId"]
        got = self.receive_all(dlq_url, 1, timeout=10)
        self.assertEqual(len(got), 1)
        env = envelope(got[0]["Body"])
        self.assertEqual((env["MessageId"], env["Message"]), (mid, "never delivered"))
        self.assertEqual(len(ep.of_type("Notification")), 2)  # the first attempt and one retry

    def test_client_error_is_not_retried(self):
        topic = self.topic("http-4xx")
        dlq_url, dlq = self.queue("dlq")
        ep = self.endpoint(fail_always=True, fail_status=403)
        self.subscribe_confirmed(topic, ep, DeliveryPolicy=FAST, RawMessageDelivery="true",
                                 RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq}))
        self.sns.publish(TopicArn=topic, Message="raw text")
        got = self.receive_all(dlq_url, 1, timeout=5)
        self.assertEqual([m["Body"] for m in got], ["raw text"])
        notes = ep.of_type("Notification")
        self.assertEqual(len(notes), 1)
        self.assertEqual(notes[0][0].get("x-amz-sns-rawdelivery"), "true")
        self.assertEqual(notes[0][1], "raw text")

    def test_confirm_subscription_errors(self):
        topic = self.topic("confirm")
        self.assertSnsError("InvalidParameter", "Invalid token", 400, self.sns.confirm_subscription,
                            TopicArn=topic, Token="randomtoken")
        self.assertSnsError("InvalidParameter", "Invalid parameter: Token", 400, self.sns.confirm_subscription,
                            TopicArn=topic, Token="ab" * 144)
        self.assertSnsError("InvalidParameter", "Invalid parameter: Endpoint must match the specified protocol",
                            400, self.sns.subscribe, TopicArn=topic, Protocol="http", Endpoint="ftp://x")


if __name__ == "__main__":
    unittest.main()


class Signatures(SnsTestCase):
    """--sns-signing 1: enveloped messages carry an RSA signature that verifies
    against the certificate at SigningCertURL, the way AWS's receivers check
    them (SHA1withRSA for SignatureVersion 1, SHA256withRSA for 2)."""

    daemon_args = ("--sns-signing", "1")

    def verify(self, env, tmp):
        import base64
        import os
        import subprocess
        fields = ["Message", "MessageId", "Subject", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        text = "".join("%s\n%s\n" % (k, env[k]) for k in fields if k in env)
        with urllib.request.urlopen(env["SigningCertURL"], timeout=10) as r:
            cert = r.read()
        paths = {n: os.path.join(tmp, n) for n in ("cert.pem", "pub.pem", "sig", "text")}
        with open(paths["cert.pem"], "wb") as f:
            f.write(cert)
        with open(paths["sig"], "wb") as f:
            f.write(base64.b64decode(env["Signature"]))
        with open(paths["text"], "wb") as f:
            f.write(text.encode())
        pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", paths["cert.pem"]], capture_output=True,
                             check=True).stdout
        with open(paths["pub.pem"], "wb") as f:
            f.write(pub)
        digest = "-sha256" if env["SignatureVersion"] == "2" else "-sha1"
        return subprocess.run(["openssl", "dgst", digest, "-verify", paths["pub.pem"], "-signature", paths["sig"],
                               paths["text"]], capture_output=True).returncode == 0

    def test_signatures_verify(self):
        import tempfile
        for version in ("1", "2"):
            t = self.topic("signed-v" + version, SignatureVersion=version)
            url, qarn = self.queue("q" + version)
            self.subscribe_queue(t, qarn)
            self.sns.publish(TopicArn=t, Message='signed "text"\nline', Subject="subj")
            env = envelope(self.receive_all(url, 1)[0]["Body"])
            self.assertEqual(env["SignatureVersion"], version)
            with tempfile.TemporaryDirectory() as tmp:
                self.assertTrue(self.verify(env, tmp), env)
                env["Message"] += "tampered"
                self.assertFalse(self.verify(env, tmp))
        ep = Endpoint()
        try:
            t = self.topic("signed-confirm")
            self.sns.subscribe(TopicArn=t, Protocol="http", Endpoint=ep.url)
            conf = wait_until(lambda: ep.of_type("SubscriptionConfirmation"), timeout=10)
            with tempfile.TemporaryDirectory() as tmp:
                self.assertTrue(self.verify(json.loads(conf[0][1]), tmp))
        finally:
            ep.close()
