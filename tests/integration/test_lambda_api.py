"""The Lambda API (REST-JSON, 2015-03-31) with unmodified boto3 and aws CLI:
Invoke (RequestResponse, Event, DryRun), GetFunction, ListFunctions and the
event source mapping operations, against functions declared in config
whose handlers are a tiny plugin compiled here (echo, a failing handler, a
sleeper past its timeout, and a recorder that appends each event to a file
so that Event invocations and mappings can be seen to have run).

Errors are compared with the Lambda model: status, the x-amzn-ErrorType
code, Type "User" and Lambda's texts where the API reference gives them."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import botocore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when run from the repository root
from sluice_harness import ACCOUNT, PROTOCOL, REGION, Sluice
from sqs_truth import wait_until
from test_cli import BOTH, CLI_V1, CLI_V2

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

PLUGIN_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice_plugin.h"

int echo(const sluice_invocation_t *inv, char **out, size_t *out_len);
int whoami(const sluice_invocation_t *inv, char **out, size_t *out_len);
int boom(const sluice_invocation_t *inv, char **out, size_t *out_len);
int sleepy(const sluice_invocation_t *inv, char **out, size_t *out_len);
int record(const sluice_invocation_t *inv, char **out, size_t *out_len);

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static int put(char **out, size_t *out_len, const char *s, size_t n)
{
    *out = malloc(n + 1);
    memcpy(*out, s, n);
    (*out)[n] = 0;
    *out_len = n;
    return 0;
}

int echo(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    return put(out, out_len, inv->event, inv->event_len);
}

int whoami(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    char b[512];
    int n = snprintf(b, sizeof b, "{\"requestId\":\"%s\",\"function\":\"%s\"}", inv->request_id, inv->function_name);
    return put(out, out_len, b, (size_t)n);
}

int boom(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    static const char e[] = "{\"errorMessage\":\"boom\",\"errorType\":\"ValueError\"}";
    (void)inv;
    put(out, out_len, e, sizeof e - 1);
    return 1;
}

int sleepy(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    (void)inv;
    sleep(2);
    return put(out, out_len, "\"late\"", 6);
}

int record(const sluice_invocation_t *inv, char **out, size_t *out_len)
{
    pthread_mutex_lock(&mu);
    FILE *f = fopen(RECORD_PATH, "a");
    if (f) {
        fwrite(inv->event, 1, inv->event_len, f);
        fputc('\n', f);
        fclose(f);
    }
    pthread_mutex_unlock(&mu);
    return put(out, out_len, "{\"recorded\":true}", 17);
}
"""

CONFIG = """
aws:
  account: "%(account)s"
  region: %(region)s
functions:
  - name: echo
    kind: plugin
    handler: %(so)s:echo
    timeout: 3
    concurrency: 4
  - name: whoami
    kind: plugin
    handler: %(so)s:whoami
  - name: boom
    kind: plugin
    handler: %(so)s:boom
  - name: sleepy
    kind: plugin
    handler: %(so)s:sleepy
    timeout: 1
    concurrency: 2
  - name: record
    kind: plugin
    handler: %(so)s:record
    concurrency: 2
"""

FN_ARN = "arn:aws:lambda:%s:%s:function:" % (REGION, ACCOUNT)


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (REGION, ACCOUNT, name)


def model_has(client, shape, member):
    """Whether this botocore's Lambda model knows shape.member (boto3 1.26's
    lacks ScalingConfig and EventSourceMappingArn)."""
    return member in client.meta.service_model.shape_for(shape).members


def raw(endpoint, method, path, body=None, headers=None):
    """One unsigned request; returns (status, headers, body text)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(endpoint + path, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class LambdaTestCase(unittest.TestCase):
    """A daemon per class with the plugin functions above; self.lam and
    self.sqs are boto3 clients, self.record_path the recorder's file."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-lambda-")
        cls.record_path = os.path.join(cls.tmp, "record.log")
        src, so = os.path.join(cls.tmp, "fn.c"), os.path.join(cls.tmp, "fn.so")
        with open(src, "w") as f:
            f.write(PLUGIN_C)
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-I" + os.path.join(REPO, "include"),
                        '-DRECORD_PATH="%s"' % cls.record_path, "-o", so, src, "-lpthread"], check=True)
        cls.config = os.path.join(cls.tmp, "sluice.yaml")
        with open(cls.config, "w") as f:
            f.write(CONFIG % {"account": ACCOUNT, "region": REGION, "so": so})
        cls.sluice = Sluice(config=cls.config).start()
        cls.lam = cls.sluice.client("lambda")
        cls.sqs = cls.sluice.client("sqs")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sluice.stop_checked()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def uniq(self, name):
        return ("%s-%s" % (name, self.id().split(".")[-1]))[:70]

    def queue(self, name):
        """Creates a queue unique to the test; returns (url, arn)."""
        full = self.uniq(name)
        return self.sqs.create_queue(QueueName=full)["QueueUrl"], queue_arn(full)

    def recorded(self):
        """The events the recorder has seen, parsed."""
        try:
            with open(self.record_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def recorded_bodies(self):
        return [r["body"] for e in self.recorded() for r in e.get("Records", [])]

    def assertLambdaError(self, code, status, call, *args, message=None, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            call(*args, **kwargs)
        resp = cm.exception.response
        self.assertEqual(resp["Error"]["Code"], code, resp)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status, resp)
        if message is not None:
            self.assertEqual(resp["Error"]["Message"], message, resp)
        return resp

    def drained(self, url):
        a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"


class Invoke(LambdaTestCase):
    def invoke(self, name, payload=None, **kw):
        if payload is not None:
            kw["Payload"] = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        r = self.lam.invoke(FunctionName=name, **kw)
        r["Body"] = r["Payload"].read()
        return r

    def test_round_trip(self):
        doc = {"a": 1, "s": "h\u00e9llo", "list": [1, 2, {"x": None}]}
        r = self.invoke("echo", doc)
        self.assertEqual(r["StatusCode"], 200)
        self.assertEqual(json.loads(r["Body"]), doc)
        self.assertEqual(r["ExecutedVersion"], "$LATEST")
        self.assertNotIn("FunctionError", r)
        self.assertNotIn("LogResult", r)
        self.assertTrue(r["ResponseMetadata"]["RequestId"])

    def test_any_json_value_is_a_payload(self):
        for text in ('"just a string"', "42", "[1,2]", "null"):
            self.assertEqual(self.invoke("echo", text)["Body"].decode(), text)

    def test_request_id_is_the_invocation_id(self):
        r = self.invoke("whoami", {})
        out = json.loads(r["Body"])
        self.assertEqual(out, {"requestId": r["ResponseMetadata"]["RequestId"], "function": "whoami"})

    def test_empty_payload_is_an_empty_object(self):
        self.assertEqual(json.loads(self.invoke("echo")["Body"]), {})

    def test_names_arns_and_qualifiers(self):
        for ref in ("echo", FN_ARN + "echo", FN_ARN + "echo:$LATEST", "echo:$LATEST",
                    "%s:function:echo" % ACCOUNT):
            self.assertEqual(json.loads(self.invoke(ref, {"ref": ref})["Body"]), {"ref": ref}, ref)
        self.assertEqual(self.invoke("echo", {}, Qualifier="$LATEST")["StatusCode"], 200)
        self.assertLambdaError("ResourceNotFoundException", 404, self.lam.invoke, FunctionName="echo",
                               Qualifier="7", message="Function not found: %secho:7" % FN_ARN)
        self.assertLambdaError("ResourceNotFoundException", 404, self.lam.invoke,
                               FunctionName="arn:aws:lambda:eu-west-1:%s:function:echo" % ACCOUNT)

    def test_function_error_is_200_unhandled(self):
        r = self.invoke("boom", {"x": 1})
        self.assertEqual(r["StatusCode"], 200)
        self.assertEqual(r["FunctionError"], "Unhandled")
        self.assertEqual(json.loads(r["Body"]), {"errorMessage": "boom", "errorType": "ValueError"})

    def test_timeout_is_a_function_error(self):
        t0 = time.time()
        r = self.invoke("sleepy", {})
        self.assertLess(time.time() - t0, 1.9)
        self.assertEqual(r["FunctionError"], "Unhandled")
        err = json.loads(r["Body"])
        self.assertEqual(err["errorType"], "Sandbox.Timedout")
        self.assertIn("Task timed out after 1.00 seconds", err["errorMessage"])

    def test_unknown_function(self):
        resp = self.assertLambdaError("ResourceNotFoundException", 404, self.lam.invoke, FunctionName="nope",
                                      message="Function not found: %snope" % FN_ARN)
        self.assertEqual(resp.get("Type"), "User")
        self.assertLambdaError("ResourceNotFoundException", 404, self.lam.invoke, FunctionName=FN_ARN + "nope",
                               message="Function not found: %snope" % FN_ARN)

    def test_payload_must_be_json(self):
        resp = self.assertLambdaError("InvalidRequestContentException", 400, self.lam.invoke, FunctionName="echo",
                                      Payload=b"{not json")
        self.assertTrue(resp["Error"]["Message"].startswith("Could not parse request body into json: "), resp)
        self.assertLambdaError("InvalidRequestContentException", 400, self.lam.invoke, FunctionName="echo",
                               InvocationType="Event", Payload=b"[1,")

    def test_event_is_accepted_and_runs(self):
        marker = "event-%f" % time.time()
        r = self.invoke("record", {"marker": marker}, InvocationType="Event")
        self.assertEqual(r["StatusCode"], 202)
        self.assertEqual(r["Body"], b"")
        self.assertNotIn("FunctionError", r)
        self.assertTrue(wait_until(lambda: {"marker": marker} in self.recorded()), self.recorded())

    def test_event_payload_limit(self):
        big = json.dumps({"pad": "x" * (256 * 1024)})
        self.assertLambdaError("RequestTooLargeException", 413, self.lam.invoke, FunctionName="echo",
                               InvocationType="Event", Payload=big)

    def test_sync_payload_limit(self):
        big = json.dumps({"pad": "x" * (6 * 1024 * 1024)})
        self.assertLambdaError("RequestTooLargeException", 413, self.lam.invoke, FunctionName="echo", Payload=big)

    def test_dry_run(self):
        marker = "dry-%f" % time.time()
        r = self.invoke("record", {"marker": marker}, InvocationType="DryRun")
        self.assertEqual(r["StatusCode"], 204)
        self.assertEqual(r["Body"], b"")
        self.assertLambdaError("ResourceNotFoundException", 404, self.lam.invoke, FunctionName="nope",
                               InvocationType="DryRun")
        time.sleep(0.3)
        self.assertNotIn({"marker": marker}, self.recorded())

    def test_log_tail(self):
        r = self.invoke("echo", {}, LogType="Tail")
        log = base64.b64decode(r["LogResult"]).decode()
        rid = r["ResponseMetadata"]["RequestId"]
        self.assertIn("START RequestId: %s Version: $LATEST" % rid, log)
        self.assertIn("REPORT RequestId: %s" % rid, log)

    def test_client_gone_while_waiting(self):
        quick = self.sluice.client("lambda", read_timeout=0.3)
        with self.assertRaises(botocore.exceptions.ReadTimeoutError):
            quick.invoke(FunctionName="sleepy", Payload=b"{}")
        time.sleep(1.2)  # the call times out with nobody to tell
        self.assertEqual(json.loads(self.invoke("echo", {"after": 1})["Body"]), {"after": 1})


class Functions(LambdaTestCase):
    def test_get_function(self):
        r = self.lam.get_function(FunctionName="echo")
        c = r["Configuration"]
        self.assertEqual(c["FunctionName"], "echo")
        self.assertEqual(c["FunctionArn"], FN_ARN + "echo")
        self.assertTrue(c["Handler"].endswith(":echo"))
        self.assertEqual((c["Timeout"], c["MemorySize"], c["Version"]), (3, 128, "$LATEST"))
        self.assertEqual((c["State"], c["PackageType"], c["Architectures"]), ("Active", "Zip", ["x86_64"]))
        self.assertRegex(c["LastModified"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        self.assertNotIn("Runtime", c)  # a plugin has no Lambda runtime
        self.assertEqual(r["Code"], {"RepositoryType": "S3", "Location": ""})
        self.assertEqual(r["Tags"], {})
        self.assertEqual(r["Concurrency"], {"ReservedConcurrentExecutions": 4})
        self.assertEqual(self.lam.get_function(FunctionName=FN_ARN + "sleepy")["Configuration"]["Timeout"], 1)

    def test_get_function_configuration(self):
        c = self.lam.get_function_configuration(FunctionName="boom")
        self.assertEqual((c["FunctionName"], c["FunctionArn"]), ("boom", FN_ARN + "boom"))
        self.assertLambdaError("ResourceNotFoundException", 404, self.lam.get_function_configuration,
                               FunctionName="nope")

    def test_get_unknown_function(self):
        self.assertLambdaError("ResourceNotFoundException", 404, self.lam.get_function, FunctionName="nope",
                               message="Function not found: %snope" % FN_ARN)

    def test_list_functions(self):
        fns = self.lam.list_functions()["Functions"]
        self.assertEqual([f["FunctionName"] for f in fns], ["boom", "echo", "record", "sleepy", "whoami"])
        self.assertEqual(fns[1], self.lam.get_function(FunctionName="echo")["Configuration"])
        first = self.lam.list_functions(MaxItems=2)
        self.assertEqual([f["FunctionName"] for f in first["Functions"]], ["boom", "echo"])
        rest = self.lam.list_functions(Marker=first["NextMarker"])
        self.assertEqual([f["FunctionName"] for f in rest["Functions"]], ["record", "sleepy", "whoami"])
        self.assertNotIn("NextMarker", rest)
        pages = self.lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2})
        self.assertEqual(sum(len(p["Functions"]) for p in pages), 5)

    def test_unknown_routes(self):
        for method, path in (("GET", "/2015-03-31/functions/echo/bogus"),
                             ("DELETE", "/2015-03-31/functions/echo"),
                             ("POST", "/2015-03-31/functions/echo/invocations/x"),
                             ("PATCH", "/2015-03-31/event-source-mappings/")):
            status, headers, body = raw(self.sluice.endpoint, method, path)
            self.assertEqual(status, 404, (method, path, body))
            self.assertEqual(headers.get("x-amzn-ErrorType"), "UnknownOperationException")
            self.assertEqual(json.loads(body)["Type"], "User")

    def test_raw_error_shape(self):
        status, headers, body = raw(self.sluice.endpoint, "GET", "/2015-03-31/functions/nope")
        self.assertEqual(status, 404)
        self.assertEqual(headers.get("x-amzn-ErrorType"), "ResourceNotFoundException")
        self.assertTrue(headers.get("x-amzn-RequestId"))
        self.assertEqual(json.loads(body), {"Type": "User", "Message": "Function not found: %snope" % FN_ARN})


class Mappings(LambdaTestCase):
    def create(self, qarn, fn="record", **kw):
        return self.lam.create_event_source_mapping(EventSourceArn=qarn, FunctionName=fn, **kw)

    def test_lifecycle(self):
        url, qarn = self.queue("life")
        m = self.create(qarn, BatchSize=5)
        self.assertEqual(m["ResponseMetadata"]["HTTPStatusCode"], 202)
        uuid = m["UUID"]
        self.assertEqual((m["State"], m["StateTransitionReason"]), ("Creating", "USER_INITIATED"))
        self.assertEqual((m["BatchSize"], m["MaximumBatchingWindowInSeconds"]), (5, 0))
        self.assertEqual((m["EventSourceArn"], m["FunctionArn"]), (qarn, FN_ARN + "record"))
        self.assertEqual(m["FunctionResponseTypes"], [])
        if model_has(self.lam, "EventSourceMappingConfiguration", "EventSourceMappingArn"):
            self.assertEqual(m["EventSourceMappingArn"],
                             "arn:aws:lambda:%s:%s:event-source-mapping:%s" % (REGION, ACCOUNT, uuid))
        self.assertLess(abs(m["LastModified"].timestamp() - time.time()), 60)
        g = self.lam.get_event_source_mapping(UUID=uuid)
        self.assertEqual((g["ResponseMetadata"]["HTTPStatusCode"], g["State"]), (200, "Enabled"))
        u = self.lam.update_event_source_mapping(UUID=uuid, Enabled=False, BatchSize=7)
        self.assertEqual((u["ResponseMetadata"]["HTTPStatusCode"], u["State"], u["BatchSize"]),
                         (202, "Disabling", 7))
        self.assertEqual(self.lam.get_event_source_mapping(UUID=uuid)["State"], "Disabled")
        u = self.lam.update_event_source_mapping(UUID=uuid, FunctionName=FN_ARN + "record", BatchSize=8)
        self.assertEqual((u["State"], u["BatchSize"]), ("Updating", 8))
        by_fn = self.lam.list_event_source_mappings(FunctionName="record")["EventSourceMappings"]
        self.assertIn(uuid, [x["UUID"] for x in by_fn])
        by_src = self.lam.list_event_source_mappings(EventSourceArn=qarn)["EventSourceMappings"]
        self.assertEqual([x["UUID"] for x in by_src], [uuid])
        d = self.lam.delete_event_source_mapping(UUID=uuid)
        self.assertEqual((d["ResponseMetadata"]["HTTPStatusCode"], d["State"], d["UUID"]), (202, "Deleting", uuid))
        for op in (self.lam.get_event_source_mapping, self.lam.delete_event_source_mapping):
            self.assertLambdaError("ResourceNotFoundException", 404, op, UUID=uuid,
                                   message="The resource you requested does not exist.")
        self.assertEqual(self.lam.list_event_source_mappings(EventSourceArn=qarn)["EventSourceMappings"], [])

    def test_mapping_consumes_its_queue(self):
        url, qarn = self.queue("consume")
        uuid = self.create(qarn, BatchSize=3)["UUID"]
        bodies = ["%s-%d" % (self.uniq("m"), i) for i in range(7)]
        for b in bodies:
            self.sqs.send_message(QueueUrl=url, MessageBody=b)
        self.assertTrue(wait_until(lambda: set(bodies) <= set(self.recorded_bodies()), 10), self.recorded_bodies())
        self.assertTrue(wait_until(lambda: self.drained(url), 5))
        events = [e for e in self.recorded() if any(r["body"] in bodies for r in e.get("Records", []))]
        self.assertTrue(all(len(e["Records"]) <= 3 for e in events))
        self.assertEqual(events[0]["Records"][0]["eventSourceARN"], qarn)
        self.lam.delete_event_source_mapping(UUID=uuid)

    def test_disabled_mapping_waits(self):
        url, qarn = self.queue("disabled")
        uuid = self.create(qarn, Enabled=False)["UUID"]
        body = self.uniq("waiting")
        self.sqs.send_message(QueueUrl=url, MessageBody=body)
        time.sleep(0.7)
        self.assertNotIn(body, self.recorded_bodies())
        self.lam.update_event_source_mapping(UUID=uuid, Enabled=True)
        self.assertTrue(wait_until(lambda: body in self.recorded_bodies(), 10))
        self.lam.delete_event_source_mapping(UUID=uuid)

    def test_second_mapping_of_the_pair_conflicts(self):
        url, qarn = self.queue("pair")
        uuid = self.create(qarn)["UUID"]
        resp = self.assertLambdaError("ResourceConflictException", 409, self.create, qarn, fn=FN_ARN + "record")
        self.assertIn(uuid, resp["Error"]["Message"])
        self.create(qarn, fn="echo", Enabled=False)  # another function is fine
        for m in self.lam.list_event_source_mappings(EventSourceArn=qarn)["EventSourceMappings"]:
            self.lam.delete_event_source_mapping(UUID=m["UUID"])

    def test_validation(self):
        url, qarn = self.queue("valid")
        loose = self.sluice.client("lambda", parameter_validation=False)
        for kw in ({"BatchSize": 0}, {"BatchSize": 10001}, {"BatchSize": 11},
                   {"MaximumBatchingWindowInSeconds": 301}, {"FunctionResponseTypes": ["Bogus"]}):
            self.assertLambdaError("InvalidParameterValueException", 400, loose.create_event_source_mapping,
                                   EventSourceArn=qarn, FunctionName="record", **kw)
        status, headers, _ = raw(self.sluice.endpoint, "POST", "/2015-03-31/event-source-mappings/", json.dumps(
            {"EventSourceArn": qarn, "FunctionName": "record", "ScalingConfig": {"MaximumConcurrency": 1}}))
        self.assertEqual((status, headers.get("x-amzn-ErrorType")), (400, "InvalidParameterValueException"))
        self.assertLambdaError("InvalidParameterValueException", 400, self.create,
                               "arn:aws:sns:%s:%s:topic" % (REGION, ACCOUNT))
        self.assertLambdaError("InvalidParameterValueException", 400, self.create, queue_arn("no-such-queue"))
        self.assertLambdaError("ResourceNotFoundException", 404, self.create, qarn, fn="nope")
        m = self.create(qarn, BatchSize=11, MaximumBatchingWindowInSeconds=1)
        self.assertEqual((m["BatchSize"], m["MaximumBatchingWindowInSeconds"]), (11, 1))
        self.assertLambdaError("InvalidParameterValueException", 400, loose.update_event_source_mapping,
                               UUID=m["UUID"], BatchSize=0)
        self.assertLambdaError("InvalidParameterValueException", 400, self.lam.update_event_source_mapping,
                               UUID=m["UUID"], MaximumBatchingWindowInSeconds=0)
        self.assertLambdaError("InvalidParameterValueException", 400, self.lam.update_event_source_mapping,
                               UUID=m["UUID"], FunctionName="echo")
        self.lam.delete_event_source_mapping(UUID=m["UUID"])

    def test_options_are_echoed(self):
        url, qarn = self.queue("opts")
        _, dest = self.queue("opts-dest")
        m = self.create(qarn, FunctionResponseTypes=["ReportBatchItemFailures"],
                        DestinationConfig={"OnFailure": {"Destination": dest}})
        self.assertEqual(m["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        self.assertEqual(m["DestinationConfig"], {"OnFailure": {"Destination": dest}})
        self.assertNotIn("ScalingConfig", m)
        # ScalingConfig by hand: boto3 1.26's model does not have it
        status, _, body = raw(self.sluice.endpoint, "PUT", "/2015-03-31/event-source-mappings/" + m["UUID"],
                              json.dumps({"ScalingConfig": {"MaximumConcurrency": 2}}))
        self.assertEqual(status, 202, body)
        self.assertEqual(json.loads(body)["ScalingConfig"], {"MaximumConcurrency": 2})
        u = self.lam.update_event_source_mapping(UUID=m["UUID"], FunctionResponseTypes=[],
                                                 DestinationConfig={"OnFailure": {"Destination": ""}})
        self.assertEqual(u["FunctionResponseTypes"], [])
        self.assertNotIn("DestinationConfig", u)
        if model_has(self.lam, "EventSourceMappingConfiguration", "ScalingConfig"):
            self.assertEqual(u["ScalingConfig"], {"MaximumConcurrency": 2})
        self.lam.delete_event_source_mapping(UUID=m["UUID"])

    def test_sluice_rate_limit_extension(self):
        url, qarn = self.queue("rate")
        status, _, body = raw(self.sluice.endpoint, "POST", "/2015-03-31/event-source-mappings/",
                              json.dumps({"EventSourceArn": qarn, "FunctionName": "record",
                                          "SluiceRateLimit": 50}), {"Content-Type": "application/json"})
        self.assertEqual(status, 202, body)
        m = json.loads(body)
        self.assertEqual(m["SluiceRateLimit"], 50)
        status, _, body = raw(self.sluice.endpoint, "PUT", "/2015-03-31/event-source-mappings/" + m["UUID"],
                              json.dumps({"SluiceRateLimit": 0}))
        self.assertEqual(status, 202, body)
        self.assertNotIn("SluiceRateLimit", json.loads(body))
        status, _, body = raw(self.sluice.endpoint, "POST", "/2015-03-31/event-source-mappings/", "{oops")
        self.assertEqual(status, 400)
        self.assertTrue(json.loads(body)["message"].startswith("Could not parse request body into json"))
        self.lam.delete_event_source_mapping(UUID=m["UUID"])

    def test_list_paging(self):
        uuids = []
        for i in range(3):
            _, qarn = self.queue("page%d" % i)
            uuids.append(self.create(qarn, Enabled=False)["UUID"])
        seen, marker = [], None
        while True:
            kw = {"Marker": marker} if marker else {}
            page = self.lam.list_event_source_mappings(FunctionName="record", MaxItems=2, **kw)
            self.assertLessEqual(len(page["EventSourceMappings"]), 2)
            seen += [m["UUID"] for m in page["EventSourceMappings"]]
            marker = page.get("NextMarker")
            if not marker:
                break
        self.assertEqual(len(seen), len(set(seen)))
        self.assertLessEqual(set(uuids), set(seen))
        self.assertLambdaError("ResourceNotFoundException", 404, self.lam.list_event_source_mappings,
                               FunctionName="nope")
        for u in uuids:
            self.lam.delete_event_source_mapping(UUID=u)


class MappingRestart(LambdaTestCase):
    def test_mapping_survives_restart(self):
        url, qarn = self.queue("durable")
        uuid = self.lam.create_event_source_mapping(EventSourceArn=qarn, FunctionName="record", BatchSize=4,
                                                    Enabled=False)["UUID"]
        cls, old = type(self), type(self).sluice
        old.stop()
        cls.sluice = Sluice(data_dir=old.data_dir, config=cls.config).start()
        cls.sluice.own_dir, old.own_dir = True, False
        old.cleanup()
        cls.lam, cls.sqs = cls.sluice.client("lambda"), cls.sluice.client("sqs")
        m = self.lam.get_event_source_mapping(UUID=uuid)
        self.assertEqual((m["State"], m["BatchSize"], m["EventSourceArn"]), ("Disabled", 4, qarn))
        self.lam.update_event_source_mapping(UUID=uuid, Enabled=True)
        body = self.uniq("after-restart")
        self.sqs.send_message(QueueUrl=url, MessageBody=body)
        self.assertTrue(wait_until(lambda: body in self.recorded_bodies(), 10))


class CliLambda(LambdaTestCase):
    cli = None
    v2 = False

    def aws(self, *args, ok=True):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDCLITEST", AWS_SECRET_ACCESS_KEY="secret",
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                   AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        cmd = [self.cli, "--endpoint-url", self.sluice.endpoint, "--output", "json", "lambda"] + list(args)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if not ok:
            self.assertNotEqual(p.returncode, 0, p.stdout)
            return p.stderr
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def invoke(self, name, payload, *extra):
        out = os.path.join(self.tmp, "out-%s.json" % self.uniq(name))
        fmt = ["--cli-binary-format", "raw-in-base64-out"] if self.v2 else []
        meta = self.aws("invoke", "--function-name", name, "--payload", payload, *fmt, *extra, out)
        with open(out) as f:
            return meta, f.read()

    def test_invoke(self):
        meta, body = self.invoke("echo", '{"cli": [1, 2]}')
        self.assertEqual(meta, {"StatusCode": 200, "ExecutedVersion": "$LATEST"})
        self.assertEqual(json.loads(body), {"cli": [1, 2]})

    def test_invoke_function_error(self):
        meta, body = self.invoke("boom", "{}")
        self.assertEqual((meta["StatusCode"], meta["FunctionError"]), (200, "Unhandled"))
        self.assertEqual(json.loads(body)["errorType"], "ValueError")

    def test_invoke_event(self):
        marker = "cli-event-%s-%f" % (self.v2, time.time())
        meta, body = self.invoke("record", json.dumps({"marker": marker}), "--invocation-type", "Event")
        self.assertEqual(meta["StatusCode"], 202)
        self.assertTrue(wait_until(lambda: {"marker": marker} in self.recorded()))

    def test_unknown_function(self):
        err = self.aws("get-function", "--function-name", "nope", ok=False)
        self.assertIn("ResourceNotFoundException", err)
        self.assertIn("Function not found: %snope" % FN_ARN, err)

    def test_functions(self):
        c = self.aws("get-function", "--function-name", "echo")["Configuration"]
        self.assertEqual(c["FunctionArn"], FN_ARN + "echo")
        names = [f["FunctionName"] for f in self.aws("list-functions")["Functions"]]
        self.assertEqual(names, ["boom", "echo", "record", "sleepy", "whoami"])

    def test_mappings(self):
        url, qarn = self.queue("cli")
        m = self.aws("create-event-source-mapping", "--function-name", "record", "--event-source-arn", qarn,
                     "--batch-size", "3")
        self.assertEqual((m["State"], m["BatchSize"]), ("Creating", 3))
        self.assertEqual(self.aws("get-event-source-mapping", "--uuid", m["UUID"])["State"], "Enabled")
        u = self.aws("update-event-source-mapping", "--uuid", m["UUID"], "--no-enabled")
        self.assertEqual(u["State"], "Disabling")
        listed = self.aws("list-event-source-mappings", "--event-source-arn", qarn)["EventSourceMappings"]
        self.assertEqual([x["UUID"] for x in listed], [m["UUID"]])
        err = self.aws("create-event-source-mapping", "--function-name", "record", "--event-source-arn", qarn,
                       ok=False)
        self.assertIn("ResourceConflictException", err)
        self.assertEqual(self.aws("delete-event-source-mapping", "--uuid", m["UUID"])["State"], "Deleting")
        self.assertIn("ResourceNotFoundException",
                      self.aws("get-event-source-mapping", "--uuid", m["UUID"], ok=False))


@unittest.skipUnless(CLI_V1 and (PROTOCOL == "json" or BOTH), "CLI v1 runs with the JSON interpreter")
class CliV1Lambda(CliLambda):
    cli = CLI_V1


@unittest.skipUnless(CLI_V2 and (PROTOCOL == "query" or BOTH), "CLI v2 runs with the query interpreter")
class CliV2Lambda(CliLambda):
    cli = CLI_V2
    v2 = True


del CliLambda  # runs only through its subclasses
del LambdaTestCase

if __name__ == "__main__":
    unittest.main()
