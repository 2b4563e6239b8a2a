"""The seed 001 user writer and the seed 002 ride recorder, each as the C
plugin (build/examples/workers.so; a mapping calls its record handler), as
the same plugin served out of process by the compiled runtime-API client
(build/examples/runtime-c/bootstrap), and as the Python runtime-API worker
(examples/workers/python): users go queue → function → `items:users`
(indexed by messageId, seed 001's status lookup); rides go topic → function
subscription → `items:rides` (seed 002's SNS → Lambda → table)."""
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import C_BOOTSTRAP, PY_BOOTSTRAP, PY_WORKERS, WORKERS_SO, FunctionsTestCase, http_get  # noqa: E402
from sluice_harness import ACCOUNT, REGION  # noqa: E402

KINDS = {
    "plugin": lambda symbol, module: "kind: plugin\n    handler: %s:%s" % (WORKERS_SO, symbol),
    "process": lambda symbol, module: "kind: process\n    command: %s\n    dir: %s\n    handler: %s" % (
        PY_BOOTSTRAP, PY_WORKERS, module),
    "c-process": lambda symbol, module: "kind: process\n    command: %s\n    handler: %s:%s" % (
        C_BOOTSTRAP, WORKERS_SO, symbol),
}


def users_config(kind):
    return """
queues:
  - name: users-in
    attributes: { VisibilityTimeout: 5 }
tables:
  - name: users
    partition_key: userId
    indexes: [messageId]
functions:
  - name: create-user
    %s
    timeout: 10
    concurrency: 2
mappings:
  - function: create-user
    queue: users-in
    batch_size: 10
    report_batch_item_failures: true
    on_success: items:users
""" % KINDS[kind]("users", "users.handler")


def rides_config(kind):
    return """
queues:
  - name: rides-dlq
tables:
  - name: rides
    partition_key: RideId
functions:
  - name: record-ride
    %s
    timeout: 10
    concurrency: 2
    max_retries: 0
    on_success: items:rides
    on_failure: queue:rides-dlq
topics:
  - name: rides
    subscriptions:
      - function: record-ride
""" % KINDS[kind]("rides", "rides.handler")


class SeedWorkers(FunctionsTestCase):
    def users_by_message(self, s, message_id):
        status, doc = http_get(s.endpoint, "/_sluice/tables/users/index/messageId/%s" % urllib.parse.quote(message_id))
        return doc["Items"] if status == 200 else []

    def check_users(self, kind):
        s = self.daemon(users_config(kind))
        sqs = s.client("sqs")
        url = sqs.get_queue_url(QueueName="users-in")["QueueUrl"]
        ids = [sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"name": "user-%d" % i, "email": "u%d@x" % i}))
               ["MessageId"] for i in range(5)]
        bad = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"email": "no-name@x"}))["MessageId"]
        for i, mid in enumerate(ids):
            found = self.wait(lambda: self.users_by_message(s, mid), 20, "the user of message %s" % mid)
            self.assertEqual(len(found), 1)
            user = found[0]
            self.assertEqual(user["name"], "user-%d" % i)
            self.assertEqual(user["messageId"], mid)
            # GET /users/{userId}: the item under its key
            status, by_key = http_get(s.endpoint, "/_sluice/tables/users/items/%s" % user["userId"])
            self.assertEqual(status, 200)
            self.assertEqual(by_key, user)
        self.assertEqual(self.users_by_message(s, bad), [])  # no name: the record failed, nothing stored

    def check_rides(self, kind):
        s = self.daemon(rides_config(kind))
        sns = s.client("sns")
        arn = "arn:aws:sns:%s:%s:rides" % (REGION, ACCOUNT)
        for i in range(3):
            sns.publish(TopicArn=arn, Message=json.dumps({"RideId": "ride-%d" % i, "Unicorn": "Shadowfax"}))
        sns.publish(TopicArn=arn, Message=json.dumps({"Unicorn": "no ride id"}))
        for i in range(3):
            ride = self.wait_item(s, "rides", "ride-%d" % i, seconds=20)
            self.assertEqual(ride["Unicorn"], "Shadowfax")
        sqs = s.client("sqs")
        dlq = sqs.get_queue_url(QueueName="rides-dlq")["QueueUrl"]
        got = self.wait(lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), 20,
                        "the failed ride in rides-dlq")
        record = json.loads(got[0]["Body"])
        self.assertEqual(record["requestContext"]["condition"], "RetriesExhausted")
        self.assertEqual(record["responseContext"]["functionError"], "Unhandled")
        self.assertEqual(json.loads(record["requestPayload"]["Records"][0]["Sns"]["Message"]), {"Unicorn": "no ride id"})

    def test_users_plugin(self):
        self.check_users("plugin")

    def test_users_process(self):
        self.check_users("process")

    def test_rides_plugin(self):
        self.check_rides("plugin")

    def test_rides_process(self):
        self.check_rides("process")

    def test_users_c_process(self):
        self.check_users("c-process")

    def test_rides_c_process(self):
        self.check_rides("c-process")

    def test_record_handler_failure_carries_its_reason(self):
        """Through the plugin's record handler a failed record's own error
        reaches on_failure: the results table says why it failed."""
        s = self.daemon("""
queues:
  - name: calc
tables:
  - name: results
    partition_key: requestId
functions:
  - name: divide
    kind: plugin
    handler: %s:division
mappings:
  - function: divide
    queue: calc
    report_batch_item_failures: true
    on_success: table:results
    on_failure: table:results
""" % WORKERS_SO)
        sqs = s.client("sqs")
        url = sqs.get_queue_url(QueueName="calc")["QueueUrl"]
        for rid, divisor in (("ok", 4), ("zero", 0)):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"number": 8, "divisor": divisor}),
                             MessageAttributes={"requestId": {"DataType": "String", "StringValue": rid}})
        self.assertEqual(self.wait_item(s, "results", "ok", "SUCCEEDED", seconds=20)["result"]["result"], 2.0)
        # calc has no dead-letter queue: the record is retried, and reads RUNNING with its error
        failed = self.wait_item(s, "results", "zero", "RUNNING", seconds=20)
        self.assertEqual(failed["lastError"], {"errorMessage": "division by zero", "errorType": "InvalidRecord"})
