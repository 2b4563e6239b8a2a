"""AWS ground truth for the SQS integration tests.

recorded(test, key) reads /work/shared/aws-recorded/sqs.snapshot.json (real
AWS responses recorded by the LocalStack project) for this interpreter's
protocol: "[sqs]" keys are the JSON 1.0 protocol, "[sqs_query]" keys the
query protocol. SqsTestCase adds assertions that compare an error with the
recording (Code, Message, Type, HTTP status and, over JSON, the __type shape
botocore reports as QueryErrorCode) or with an expected error when AWS's
answer is known from other sources (see /tmp/sqs-research.md).
"""
import hashlib
import json
import os
import struct
import time
import urllib.error
import urllib.parse
import urllib.request

import botocore

from sluice_harness import ACCOUNT, PROTOCOL, REGION, SluiceTestCase

SNAPSHOT = os.environ.get("SQS_SNAPSHOT", "/work/shared/aws-recorded/sqs.snapshot.json")

with open(SNAPSHOT) as f:
    _SNAP = {k.split("::")[-1]: v.get("recorded-content", {}) for k, v in json.load(f).items()}

SUFFIX = "sqs" if PROTOCOL == "json" else "sqs_query"

# error Code → the __type shape name the JSON protocol carries (QueryErrorCode)
JSON_TYPE = {
    "InvalidParameterValue": "InvalidParameterValueException",
    "MissingParameter": "MissingRequiredParameterException",
    "AWS.SimpleQueueService.NonExistentQueue": "QueueDoesNotExist",
    "QueueAlreadyExists": "QueueNameExists",
    "AWS.SimpleQueueService.QueueDeletedRecently": "QueueDeletedRecently",
    "InvalidAttributeName": "InvalidAttributeName",
    "InvalidAttributeValue": "InvalidAttributeValue",
    "AWS.SimpleQueueService.PurgeQueueInProgress": "PurgeQueueInProgress",
    "ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid",
    "InvalidMessageContents": "InvalidMessageContents",
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest": "TooManyEntriesInBatchRequest",
    "AWS.SimpleQueueService.EmptyBatchRequest": "EmptyBatchRequest",
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct": "BatchEntryIdsNotDistinct",
    "AWS.SimpleQueueService.InvalidBatchEntryId": "InvalidBatchEntryId",
    "AWS.SimpleQueueService.BatchRequestTooLong": "BatchRequestTooLong",
    "ResourceNotFoundException": "ResourceNotFoundException",
    "OverLimit": "OverLimit",
}


def recorded(test, key, param=None, suffix=SUFFIX):
    """The recorded AWS response of test/key for this protocol (or suffix)."""
    names = []
    if param is not None:
        names += ["%s[%s-%s]" % (test, suffix, param), "%s[%s]" % (test, param)]
    names += ["%s[%s]" % (test, suffix), test]
    for n in names:
        if n in _SNAP and key in _SNAP[n]:
            return _SNAP[n][key]
    raise KeyError("no recording %s / %s" % (test, key))


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (REGION, ACCOUNT, name)


def md5(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.md5(data).hexdigest()


def attrs_md5(attrs):
    """MD5OfMessageAttributes as AWS computes it (what the SDKs verify)."""
    h = hashlib.md5()

    def put(b):
        h.update(struct.pack(">I", len(b)) + b)

    for name in sorted(attrs):
        a = attrs[name]
        put(name.encode())
        put(a["DataType"].encode())
        if "BinaryValue" in a:
            h.update(b"\x02")
            put(a["BinaryValue"])
        else:
            h.update(b"\x01")
            put(a["StringValue"].encode())
    return h.hexdigest()


def wait_until(fn, timeout=5.0, step=0.05):
    """Polls fn until it returns something truthy; returns that or the last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


def raw_post(endpoint, body, headers, path="/"):
    """One unsigned HTTP POST; returns (status, headers, body text)."""
    req = urllib.request.Request(endpoint + path, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def raw_query(endpoint, params, path="/"):
    """A query-protocol request with the given form parameters."""
    form = urllib.parse.urlencode(dict({"Version": "2012-11-05"}, **params))
    return raw_post(endpoint, form, {"Content-Type": "application/x-www-form-urlencoded"}, path)


def raw_json(endpoint, action, doc, path="/"):
    """A JSON 1.0 request; returns (status, headers, parsed body)."""
    status, headers, body = raw_post(endpoint, json.dumps(doc), {
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS." + action}, path)
    return status, headers, json.loads(body) if body else None


class SqsTestCase(SluiceTestCase):
    """SluiceTestCase with AWS-comparison assertions and message helpers."""

    def call_error(self, fn, *args, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(*args, **kwargs)
        return cm.exception.response

    def assertError(self, code, message, status, fn, *args, **kwargs):
        """fn fails with code, message (None: not checked) and HTTP status."""
        resp = self.call_error(fn, *args, **kwargs)
        err = resp["Error"]
        self.assertEqual(err["Code"], code, err)
        if message is not None:
            self.assertEqual(err.get("Message"), message, err)
        self.assertEqual(err.get("Type"), "Sender", err)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status, err)
        if PROTOCOL == "json" and code in JSON_TYPE:
            self.assertEqual(err.get("QueryErrorCode"), JSON_TYPE[code], err)
        return resp

    def assertRecordedError(self, test, key, fn, *args, subs=None, param=None, **kwargs):
        """fn fails exactly as AWS did in the recording test/key; subs maps
        placeholders of the recording (e.g. "<queue-name>") to this run's values."""
        exp = recorded(test, key, param)
        resp = self.call_error(fn, *args, **kwargs)
        err, want = resp["Error"], dict(exp["Error"])
        for k, v in (subs or {}).items():
            want["Message"] = want["Message"].replace(k, v)
        self.assertEqual(err["Code"], want["Code"], err)
        self.assertEqual(err.get("Message"), want["Message"], err)
        self.assertEqual(err.get("Type"), want["Type"], err)
        status = exp.get("ResponseMetadata", {}).get("HTTPStatusCode")
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status, err)
        if PROTOCOL == "json":
            self.assertEqual(err.get("QueryErrorCode"), want.get("QueryErrorCode", JSON_TYPE.get(want["Code"])), err)
        return resp

    # ---- messages -------------------------------------------------------------

    def receive(self, url, n=10, wait=0, **kw):
        """One ReceiveMessage call; returns the list of messages ([] when none)."""
        return self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, WaitTimeSeconds=wait,
                                        **kw).get("Messages", [])

    def drain(self, url, rounds=3, **kw):
        """Receives until an empty answer; returns all bodies in order."""
        out = []
        for _ in range(rounds * 100):
            got = self.receive(url, **kw)
            if not got:
                break
            out += got
        return out

    def attrs(self, url, *names):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"]).get(
            "Attributes", {})

    def counts(self, url):
        a = self.attrs(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                       "ApproximateNumberOfMessagesDelayed")
        return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
                int(a["ApproximateNumberOfMessagesDelayed"]))

    def arn(self, url):
        return self.attrs(url, "QueueArn")["QueueArn"]
