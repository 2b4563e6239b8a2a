"""auth.mode sigv4 end to end: real clients (boto3 SQS, SNS and Lambda, the
aws CLI, botocore's presigned URLs) signing with a configured key get
through; a wrong secret, an unknown key id, no signature at all, an altered
presigned URL and a request dated 20 minutes back are refused with AWS's
codes in each protocol's shape. The gateway's routes, /health and the links
SNS sends to endpoints stay unsigned."""
import contextlib
import datetime
import hashlib
import hmac
import os
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request
from unittest import mock

import boto3
import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from sluice_harness import CLI, PROTOCOL, REGION, SLUICE_BIN, Sluice, free_port

KEY, SECRET = "AKIDSIGV4IT", "it-secret-0001"
ENV_KEY, ENV_SECRET = "AKIDSIGV4ENV", "from-the-environment"
SQS_QUERY_VERSION = "2012-11-05"

CONFIG = """
auth:
  mode: sigv4
  clock_skew_s: 900
  session_token: ignore
  access_keys:
    - id: %s
      secret: %s
    - id: %s
      secret_env: SLUICE_IT_SIGV4_SECRET
queues:
  - name: gw-jobs
gateway:
  routes:
    - { method: POST, path: /jobs, integration: enqueue, queue: gw-jobs }
""" % (KEY, SECRET, ENV_KEY)


@contextlib.contextmanager
def signing_clock(when):
    """botocore signs with `when` as the current time (aware, UTC)."""
    if hasattr(botocore.auth, "get_current_datetime"):  # newer botocore
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
            yield
    else:  # botocore 1.26: datetime.datetime.utcnow()
        fake = mock.MagicMock()
        fake.datetime.utcnow.return_value = when.replace(tzinfo=None)
        with mock.patch.object(botocore.auth, "datetime", fake):
            yield


def sign(req, service, when=None, key=KEY, secret=SECRET, presign=False, expires=60):
    creds = Credentials(key, secret)
    if presign:
        auth = botocore.auth.SigV4QueryAuth(creds, service, REGION, expires=expires)
    else:
        auth = botocore.auth.SigV4Auth(creds, service, REGION)
    with signing_clock(when) if when else contextlib.nullcontext():
        auth.add_auth(req)
    return req


def send(req):
    """Sends an AWSRequest as it is; returns (status, headers, body text)."""
    p = req.prepare()
    body = p.body.encode() if isinstance(p.body, str) else p.body
    r = urllib.request.Request(p.url, data=body or None, method=p.method, headers=dict(p.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


class SigV4(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sluice-sigv4-")
        path = os.path.join(cls.dir, "sluice.yaml")
        with open(path, "w") as f:
            f.write(CONFIG)
        os.environ["SLUICE_IT_SIGV4_SECRET"] = ENV_SECRET
        cls.sluice = Sluice(config=path).start()

    @classmethod
    def tearDownClass(cls):
        cls.sluice.stop_checked()
        os.environ.pop("SLUICE_IT_SIGV4_SECRET", None)

    def client(self, service, key=KEY, secret=SECRET, **cfg):
        return boto3.client(service, endpoint_url=self.sluice.endpoint, region_name=REGION,
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            config=Config(retries={"max_attempts": 0}, **cfg))

    def assertRefused(self, code, status, fn, *args, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(*args, **kwargs)
        resp = cm.exception.response
        self.assertEqual(resp["Error"]["Code"], code, resp)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status, resp)
        return resp

    def query(self, params, method="POST"):
        """An SQS query-protocol request, unsigned."""
        body = "&".join("%s=%s" % kv for kv in params.items())
        if method == "GET":
            return AWSRequest(method="GET", url="%s/?%s" % (self.sluice.endpoint, body))
        return AWSRequest(method="POST", url=self.sluice.endpoint + "/", data=body,
                          headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})

    # ---- the right key ----------------------------------------------------------------------------------

    def test_start_log_names_the_mode(self):
        self.assertIn("event=auth_sigv4 mode=sigv4 keys=2", self.sluice.read_log())
        self.assertNotIn("event=auth_open", self.sluice.read_log())

    def test_sqs_with_the_right_key(self):
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName="signed-%s" % PROTOCOL)["QueueUrl"]
        sent = sqs.send_message(QueueUrl=url, MessageBody="signed body")
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        self.assertEqual(got[0]["MessageId"], sent["MessageId"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        self.assertNotIn("Messages", sqs.receive_message(QueueUrl=url))

    def test_key_whose_secret_comes_from_the_environment(self):
        resp = self.client("sqs", ENV_KEY, ENV_SECRET).list_queues()
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertRefused("SignatureDoesNotMatch", 403, self.client("sqs", ENV_KEY, SECRET).list_queues)

    def test_sns_with_the_right_key(self):
        sns = self.client("sns")
        topic = sns.create_topic(Name="signed-topic")["TopicArn"]
        self.assertTrue(sns.publish(TopicArn=topic, Message="hello")["MessageId"])

    def test_lambda_with_the_right_key(self):
        self.assertEqual(self.client("lambda").list_functions()["Functions"], [])

    # ---- refusals ------------------------------------------------------------------------------------------

    def test_wrong_secret(self):
        resp = self.assertRefused("SignatureDoesNotMatch", 403, self.client("sqs", secret="wrong").list_queues)
        self.assertIn("The request signature we calculated does not match", resp["Error"]["Message"])
        self.assertRefused("SignatureDoesNotMatch", 403, self.client("sns", secret="wrong").list_topics)
        self.assertRefused("InvalidSignatureException", 403, self.client("lambda", secret="wrong").list_functions)

    def test_unknown_key_id(self):
        self.assertRefused("InvalidClientTokenId", 403, self.client("sqs", key="AKIDNOBODY").list_queues)
        self.assertRefused("InvalidClientTokenId", 403, self.client("sns", key="AKIDNOBODY").list_topics)
        self.assertRefused("UnrecognizedClientException", 403,
                           self.client("lambda", key="AKIDNOBODY").list_functions)

    def test_no_signature(self):
        unsigned = {"signature_version": botocore.UNSIGNED}
        self.assertRefused("MissingAuthenticationToken", 403, self.client("sqs", **unsigned).list_queues)
        self.assertRefused("MissingAuthenticationToken", 403, self.client("sns", **unsigned).list_topics)
        self.assertRefused("MissingAuthenticationTokenException", 403,
                           self.client("lambda", **unsigned).list_functions)
        status, _, body = send(self.query({"Action": "ListQueues", "Version": SQS_QUERY_VERSION}))
        self.assertEqual(status, 403)
        self.assertIn("<Code>MissingAuthenticationToken</Code>", body)
        status, headers, body = send(AWSRequest(method="GET", url=self.sluice.endpoint + "/_sluice/tables"))
        self.assertEqual((status, headers["x-amzn-ErrorType"]), (403, "MissingAuthenticationToken"), body)

    def test_signed_for_another_service(self):
        req = AWSRequest(method="POST", url=self.sluice.endpoint + "/", data="{}",
                         headers={"X-Amz-Target": "AmazonSQS.ListQueues",
                                  "Content-Type": "application/x-amz-json-1.0"})
        status, headers, body = send(sign(req, "sns"))
        self.assertEqual(status, 403, body)
        self.assertEqual(headers["x-amzn-query-error"], "SignatureDoesNotMatch;Sender")
        self.assertIn("Credential should be scoped to correct service: 'sqs'", body)

    def test_route_follows_the_credential_the_verifier_reads(self):
        # the Authorization header is not signed: a part whose name ends in
        # "Credential" must not pick the service the request is checked for
        params = {"Action": "ListQueues", "Version": SQS_QUERY_VERSION}
        req = sign(self.query(params), "sqs")
        auth = req.headers["Authorization"]
        req.headers.replace_header("Authorization", auth.replace(
            "Credential=", "XCredential=%s/20990101/%s/sns/aws4_request, Credential=" % (KEY, REGION), 1))
        status, _, body = send(req)
        self.assertEqual(status, 200, body)
        self.assertIn("<ListQueuesResponse", body)

    def test_request_dated_twenty_minutes_ago(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        old = now - datetime.timedelta(minutes=20)
        params = {"Action": "ListQueues", "Version": SQS_QUERY_VERSION}
        status, _, body = send(sign(self.query(params), "sqs", when=now))
        self.assertEqual(status, 200, body)
        status, _, body = send(sign(self.query(params), "sqs", when=old))
        self.assertEqual(status, 400, body)
        self.assertIn("<Code>RequestExpired</Code>", body)
        self.assertIn("Signature expired: %s is now earlier than" % old.strftime("%Y%m%dT%H%M%SZ"), body)
        status, _, body = send(sign(self.query(params), "sqs", when=now + datetime.timedelta(minutes=20)))
        self.assertEqual(status, 400, body)
        self.assertIn("Signature not yet current", body)

    # ---- aws-chunked bodies --------------------------------------------------------------------------------

    def chunked_send(self, body_chunks, tamper=False):
        """SendMessage over the query protocol as an aws-chunked body, signed chunk by chunk as AWS
        documents it (STREAMING-AWS4-HMAC-SHA256-PAYLOAD); no SDK signs SQS requests this way."""
        form = b"".join(body_chunks)
        now = datetime.datetime.now(datetime.timezone.utc)
        amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        scope = "%s/%s/sqs/aws4_request" % (day, REGION)
        key = ("AWS4" + SECRET).encode()
        for part in (day, REGION, "sqs", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()

        def sign_text(text):
            return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

        host = self.sluice.endpoint.split("//", 1)[1]
        headers = [("content-type", "application/x-www-form-urlencoded"), ("host", host),
                   ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("x-amz-date", amz),
                   ("x-amz-decoded-content-length", str(len(form)))]
        signed = ";".join(k for k, _ in headers)
        creq = "POST\n/\n\n%s\n%s\nSTREAMING-AWS4-HMAC-SHA256-PAYLOAD" % (
            "".join("%s:%s\n" % kv for kv in headers), signed)
        prev = sign_text("AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(creq.encode()).hexdigest()))
        auth = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (KEY, scope, signed, prev)
        body = b""
        for data in list(body_chunks) + [b""]:
            prev = sign_text("AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s" % (
                amz, scope, prev, hashlib.sha256(b"").hexdigest(), hashlib.sha256(data).hexdigest()))
            sent = data.replace(b"hello", b"HELLO") if tamper else data
            body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(data), prev.encode(), sent)
        req = AWSRequest(method="POST", url=self.sluice.endpoint + "/", data=body,
                         headers=dict(headers[:1] + headers[2:], **{"Authorization": auth,
                                                                   "Content-Encoding": "aws-chunked"}))
        return send(req)

    def test_aws_chunked_body(self):
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName="chunked-%s" % PROTOCOL)["QueueUrl"]
        chunks = [b"Action=SendMessage&Version=2012-11-05&QueueUrl=" + url.encode(),
                  b"&MessageBody=chunked+hello+world"]
        status, _, body = self.chunked_send(chunks, tamper=True)
        self.assertEqual(status, 403, body)
        self.assertIn("<Code>SignatureDoesNotMatch</Code>", body)
        self.assertIn("The signature of chunk 1", body)
        status, _, body = self.chunked_send(chunks)
        self.assertEqual(status, 200, body)
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        self.assertEqual([m["Body"] for m in got], ["chunked hello world"])

    # ---- presigned URLs ------------------------------------------------------------------------------------

    def presigned(self, when=None, expires=60):
        req = self.query({"Action": "ListQueues", "Version": SQS_QUERY_VERSION}, method="GET")
        return sign(req, "sqs", when=when, presign=True, expires=expires).prepare().url

    def get(self, url, method="GET"):
        return send(AWSRequest(method=method, url=url))

    def test_presigned_url(self):
        self.client("sqs").create_queue(QueueName="presigned-%s" % PROTOCOL)
        url = self.presigned()
        self.assertIn("X-Amz-Signature=", url)
        status, _, body = self.get(url)
        self.assertEqual(status, 200, body)
        self.assertIn("presigned-%s" % PROTOCOL, body)
        status, _, body = self.get(url + "&QueueNamePrefix=x")
        self.assertEqual(status, 403, body)
        self.assertIn("<Code>SignatureDoesNotMatch</Code>", body)
        status, _, body = self.get(url.replace("ListQueues", "ListDeadLetterSourceQueues"))
        self.assertEqual(status, 403, body)
        old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
        status, _, body = self.get(self.presigned(when=old, expires=60))
        self.assertEqual(status, 400, body)
        self.assertIn("<Code>RequestExpired</Code>", body)
        status, _, body = self.get(self.presigned(when=old, expires=3600))
        self.assertEqual(status, 200, body)

    def test_presigned_url_cannot_be_retargeted(self):
        # a URL presigned for a POST signs host only; an X-Amz-Target added to it
        # would route it to the JSON protocol's action of the sender's choice
        req = AWSRequest(method="POST", url="%s/?Action=ListQueues&Version=%s" % (
            self.sluice.endpoint, SQS_QUERY_VERSION))
        url = sign(req, "sqs", presign=True).prepare().url
        status, _, body = self.get(url, method="POST")
        self.assertEqual(status, 200, body)
        status, headers, body = send(AWSRequest(method="POST", url=url, headers={
            "X-Amz-Target": "AmazonSQS.ListQueues", "Content-Type": "application/x-amz-json-1.0"}))
        self.assertEqual(status, 400, body)
        self.assertEqual(headers["x-amzn-query-error"], "IncompleteSignature;Sender")
        self.assertIn("'x-amz-target' must be a signed header", body)
        # the SDKs sign it: this interpreter's client (JSON or query) still gets through
        self.assertEqual(self.client("sqs").list_queues()["ResponseMetadata"]["HTTPStatusCode"], 200)

    @unittest.skipUnless(PROTOCOL == "query", "the client presigns SQS requests as URLs with the query protocol")
    def test_client_generate_presigned_url(self):
        sqs = self.client("sqs")
        sqs.create_queue(QueueName="by-url")
        url = sqs.generate_presigned_url("get_queue_url", Params={"QueueName": "by-url"}, ExpiresIn=60)
        # botocore signs the query protocol's POST, its body moved into the URL
        status, _, body = self.get(url, method="POST")
        self.assertEqual(status, 200, body)
        self.assertIn("/by-url</QueueUrl>", body)
        status, _, body = self.get(url.replace("QueueName=by-url", "QueueName=other"), method="POST")
        self.assertEqual(status, 403, body)
        self.assertIn("<Code>SignatureDoesNotMatch</Code>", body)

    # ---- the aws CLI ---------------------------------------------------------------------------------------

    def aws(self, secret, *args):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION=REGION,
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="",
                   AWS_MAX_ATTEMPTS="1")
        return subprocess.run([CLI, "--endpoint-url", self.sluice.endpoint, "--output", "json"] + list(args),
                              env=env, capture_output=True, text=True, timeout=60)

    @unittest.skipUnless(CLI, "no aws CLI for this interpreter's protocol")
    def test_aws_cli(self):
        self.client("sqs").create_queue(QueueName="cli-signed-%s" % PROTOCOL)
        ok = self.aws(SECRET, "sqs", "list-queues")
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("cli-signed-%s" % PROTOCOL, ok.stdout)
        bad = self.aws("not-the-secret", "sqs", "list-queues")
        self.assertNotEqual(bad.returncode, 0, bad.stdout)
        self.assertIn("SignatureDoesNotMatch", bad.stderr)

    # ---- what stays unsigned -------------------------------------------------------------------------------

    def test_gateway_routes_and_health_stay_open(self):
        status, _, body = send(AWSRequest(method="POST", url=self.sluice.endpoint + "/jobs", data='{"n": 1}',
                                          headers={"Content-Type": "application/json"}))
        self.assertEqual(status, 202, body)
        status, _, body = self.get(self.sluice.endpoint + "/health")
        self.assertEqual(status, 200, body)

    def test_tables_view_takes_a_signature(self):
        status, _, body = send(sign(AWSRequest(method="GET", url=self.sluice.endpoint + "/_sluice/tables"), "sluice"))
        self.assertEqual(status, 200, body)
        self.assertIn('"Tables"', body)

    def test_sns_subscription_links_stay_unsigned(self):
        sns = self.client("sns")
        topic = sns.create_topic(Name="links")["TopicArn"]
        queue = self.client("sqs").create_queue(QueueName="links-%s" % PROTOCOL)["QueueUrl"]
        arn = "arn:aws:sqs:%s:000000000000:%s" % (REGION, queue.rsplit("/", 1)[1])
        sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
        # a SubscribeURL: the token is the proof, so a bad one is the error, not the missing signature
        status, _, body = self.get("%s/?Action=ConfirmSubscription&TopicArn=%s&Token=%s" % (
            self.sluice.endpoint, topic, "0" * 64))
        self.assertEqual(status, 400, body)
        self.assertIn("<Code>InvalidParameter</Code>", body)
        # an UnsubscribeURL
        status, _, body = self.get("%s/?Action=Unsubscribe&SubscriptionArn=%s" % (self.sluice.endpoint, sub))
        self.assertEqual(status, 200, body)
        self.assertEqual(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"], [])
        # any other SNS action needs a signature
        status, _, body = self.get("%s/?Action=ListTopics&Version=2010-03-31" % self.sluice.endpoint)
        self.assertEqual(status, 403, body)
        self.assertIn("<Code>MissingAuthenticationToken</Code>", body)


class RefusedConfigs(unittest.TestCase):
    """An auth section the daemon must not start with, and why (file:line:col where a node is at fault)."""

    def refuse(self, text, needle, args=()):
        d = tempfile.mkdtemp(prefix="sluice-sigv4-cfg-")
        path = os.path.join(d, "bad.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([SLUICE_BIN, "serve", "--port", str(free_port()), "--data", os.path.join(d, "data"),
                            "--config", path] + list(args), capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr + r.stdout)
        self.assertIn(needle, r.stderr)

    def test_refused(self):
        self.refuse("auth:\n  mode: sigv4\n", "auth.mode sigv4 needs at least one key in auth.access_keys")
        self.refuse("auth:\n  mode: strict\n", 'bad.yaml:2:9: auth.mode: "strict" is not one of open, sigv4')
        self.refuse("auth:\n  clock_skew_s: 0\n", "auth.clock_skew_s: 0 is out of range (1..3600)")
        self.refuse("auth:\n  session_token: verify\n", "is not one of ignore, check")
        self.refuse("auth:\n  modes: sigv4\n", "bad.yaml:2:3: unknown setting auth.modes")
        self.refuse("auth:\n  access_keys:\n    - { id: AK1, secret: s, colour: red }\n",
                    "bad.yaml:3:29: unknown access key setting colour (id, secret, secret_env, session_token)")
        self.refuse("auth:\n  access_keys:\n    - { id: AK1 }\n", "access key AK1 needs exactly one of secret and secret_env")
        self.refuse("auth:\n  access_keys:\n    - { id: AK1, secret_env: SLUICE_IT_NOT_SET_ANYWHERE }\n",
                    "environment variable SLUICE_IT_NOT_SET_ANYWHERE is not set")
        self.refuse("auth:\n  access_keys:\n    - { id: 'AK/1', secret: s }\n", "must be 1..128 of A-Z a-z 0-9 _")
        self.refuse("auth:\n  mode: sigv4\n  access_keys:\n    - { id: AK1, secret: s }\n    - { id: AK1, secret: t }\n",
                    "bad.yaml:5: access key AK1 is listed twice")
        self.refuse("", "auth.mode sigv4 needs at least one key", args=("--auth", "sigv4"))


if __name__ == "__main__":
    unittest.main()
