"""The aws CLI against Sluice, unmodified, through --endpoint-url: the pyenv
CLI v1 (botocore 1.43, SQS over JSON 1.0) and Debian's CLI v2.9 (SQS over
the query protocol). Each interpreter's run drives the CLI of its protocol;
SLUICE_IT_BOTH_CLIS=1 drives both in either run."""
import json
import os
import subprocess
import unittest

from sluice_harness import ACCOUNT, CLI_V1, CLI_V2, PROTOCOL, REGION
from sqs_truth import SqsTestCase, attrs_md5, md5

BOTH = os.environ.get("SLUICE_IT_BOTH_CLIS") == "1"


class CliTestCase(SqsTestCase):
    cli = None

    def aws(self, *args, ok=True, service="sqs"):
        """Runs `aws <service> <args>`; returns parsed JSON output ({} when none)."""
        env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDCLITEST", AWS_SECRET_ACCESS_KEY="secret",
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                   AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        cmd = [self.cli, "--endpoint-url", self.sluice.endpoint, "--output", "json", service] + list(args)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if not ok:
            self.assertNotEqual(p.returncode, 0, p.stdout)
            return p.stderr
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def sns(self, *args, ok=True):
        return self.aws(*args, ok=ok, service="sns")

    def test_sns_fan_out(self):
        name = "cli-topic-%s" % self.__class__.__name__.lower()
        topic = self.sns("create-topic", "--name", name)["TopicArn"]
        self.assertEqual(topic, "arn:aws:sns:%s:%s:%s" % (REGION, ACCOUNT, name))
        urls = {}
        for op in ("division", "multiplication"):
            url = self.aws("create-queue", "--queue-name", "%s-%s" % (name, op))["QueueUrl"]
            arn = self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names",
                           "QueueArn")["Attributes"]["QueueArn"]
            self.sns("subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", arn,
                     "--attributes", json.dumps({"RawMessageDelivery": "true",
                                                 "FilterPolicy": json.dumps({"operation": [op]})}))
            urls[op] = url
        subs = self.sns("list-subscriptions-by-topic", "--topic-arn", topic)["Subscriptions"]
        self.assertEqual(len(subs), 2)
        for i, op in enumerate(("division", "multiplication", "division")):
            self.sns("publish", "--topic-arn", topic, "--message", "%s-%d" % (op, i), "--message-attributes",
                     json.dumps({"operation": {"DataType": "String", "StringValue": op}}))
        got = {op: sorted(m["Body"] for m in self.aws("receive-message", "--queue-url", url,
                                                      "--max-number-of-messages", "10").get("Messages", []))
               for op, url in urls.items()}
        self.assertEqual(got, {"division": ["division-0", "division-2"], "multiplication": ["multiplication-1"]})
        err = self.sns("get-topic-attributes", "--topic-arn", topic + "-missing", ok=False)
        self.assertIn("NotFound", err)
        self.sns("delete-topic", "--topic-arn", topic)

    def test_queue_lifecycle(self):
        name = "cli-%s" % self.__class__.__name__.lower()
        url = self.aws("create-queue", "--queue-name", name, "--attributes",
                       "VisibilityTimeout=5,DelaySeconds=0")["QueueUrl"]
        self.assertEqual(url, "%s/%s/%s" % (self.sluice.endpoint, ACCOUNT, name))
        self.assertEqual(self.aws("get-queue-url", "--queue-name", name)["QueueUrl"], url)
        self.assertIn(url, self.aws("list-queues", "--queue-name-prefix", name)["QueueUrls"])
        self.aws("set-queue-attributes", "--queue-url", url, "--attributes", "MaximumMessageSize=2048")
        attrs = self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
        self.assertEqual((attrs["VisibilityTimeout"], attrs["MaximumMessageSize"]), ("5", "2048"))
        self.assertEqual(attrs["QueueArn"], "arn:aws:sqs:%s:%s:%s" % (REGION, ACCOUNT, name))
        self.aws("tag-queue", "--queue-url", url, "--tags", "team=core,tier=1")
        self.aws("untag-queue", "--queue-url", url, "--tag-keys", "tier")
        self.assertEqual(self.aws("list-queue-tags", "--queue-url", url)["Tags"], {"team": "core"})
        self.aws("add-permission", "--queue-url", url, "--label", "lbl", "--aws-account-ids", "668614515564",
                 "--actions", "SendMessage")
        policy = json.loads(self.aws("get-queue-attributes", "--queue-url", url, "--attribute-names",
                                     "Policy")["Attributes"]["Policy"])
        self.assertEqual(policy["Statement"][0]["Action"], "SQS:SendMessage")
        self.aws("remove-permission", "--queue-url", url, "--label", "lbl")
        self.aws("delete-queue", "--queue-url", url)
        err = self.aws("get-queue-url", "--queue-name", name, ok=False)
        self.assertIn("AWS.SimpleQueueService.NonExistentQueue", err)

    def test_messages(self):
        url = self.aws("create-queue", "--queue-name", "cli-msgs-%s" % self.cli_name)["QueueUrl"]
        attrs = {"color": {"DataType": "String", "StringValue": "blue"},
                 "n": {"DataType": "Number", "StringValue": "42"}}
        sent = self.aws("send-message", "--queue-url", url, "--message-body", "hello ✓",
                        "--message-attributes", json.dumps(attrs))
        self.assertEqual(sent["MD5OfMessageBody"], md5("hello ✓"))
        self.assertEqual(sent["MD5OfMessageAttributes"], attrs_md5(attrs))
        batch = self.aws("send-message-batch", "--queue-url", url, "--entries", json.dumps(
            [{"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two"}]))
        self.assertEqual(sorted(e["Id"] for e in batch["Successful"]), ["a", "b"])
        got = self.aws("receive-message", "--queue-url", url, "--max-number-of-messages", "10",
                       "--attribute-names", "All", "--message-attribute-names", "All", "--wait-time-seconds", "1")
        msgs = {m["Body"]: m for m in got["Messages"]}
        while len(msgs) < 3:
            more = self.aws("receive-message", "--queue-url", url, "--max-number-of-messages", "10")
            msgs.update({m["Body"]: m for m in more.get("Messages", [])})
        first = msgs["hello ✓"]
        self.assertEqual(first["MessageAttributes"], attrs)
        self.assertEqual(first["Attributes"]["ApproximateReceiveCount"], "1")
        self.aws("change-message-visibility", "--queue-url", url, "--receipt-handle", first["ReceiptHandle"],
                 "--visibility-timeout", "0")
        again = self.aws("receive-message", "--queue-url", url, "--wait-time-seconds", "2")["Messages"][0]
        self.assertEqual(again["Body"], "hello ✓")
        self.aws("delete-message", "--queue-url", url, "--receipt-handle", again["ReceiptHandle"])
        res = self.aws("delete-message-batch", "--queue-url", url, "--entries", json.dumps(
            [{"Id": "x", "ReceiptHandle": msgs["one"]["ReceiptHandle"]},
             {"Id": "y", "ReceiptHandle": msgs["two"]["ReceiptHandle"]}]))
        self.assertEqual(sorted(e["Id"] for e in res["Successful"]), ["x", "y"])
        self.assertEqual(self.counts(url), (0, 0, 0))
        self.aws("send-message", "--queue-url", url, "--message-body", "purge me")
        self.aws("purge-queue", "--queue-url", url)
        self.assertEqual(self.counts(url), (0, 0, 0))
        err = self.aws("purge-queue", "--queue-url", url, ok=False)
        self.assertIn("PurgeQueueInProgress", err)

    def test_fifo_and_dead_letters(self):
        dlq = self.aws("create-queue", "--queue-name", "cli-dlq-%s.fifo" % self.cli_name, "--attributes",
                       "FifoQueue=true")["QueueUrl"]
        dlq_arn = self.arn(dlq)
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
        src = self.aws("create-queue", "--queue-name", "cli-src-%s.fifo" % self.cli_name, "--attributes",
                       json.dumps({"FifoQueue": "true", "ContentBasedDeduplication": "true",
                                   "RedrivePolicy": policy}))["QueueUrl"]
        seqs = [self.aws("send-message", "--queue-url", src, "--message-body", b, "--message-group-id",
                         "g")["SequenceNumber"] for b in ("first", "second")]
        self.assertLess(int(seqs[0]), int(seqs[1]))
        self.assertEqual(self.aws("list-dead-letter-source-queues", "--queue-url", dlq)["queueUrls"], [src])
        got = self.aws("receive-message", "--queue-url", src, "--max-number-of-messages", "10")["Messages"]
        self.assertEqual([m["Body"] for m in got], ["first", "second"])
        err = self.aws("send-message", "--queue-url", src, "--message-body", "x", ok=False)
        self.assertIn("MessageGroupId", err)


@unittest.skipUnless(CLI_V1 and (PROTOCOL == "json" or BOTH), "CLI v1 runs with the JSON interpreter")
class CliV1(CliTestCase):
    cli, cli_name = CLI_V1, "v1"

    def test_version_speaks_json(self):
        out = subprocess.run([self.cli, "--version"], capture_output=True, text=True).stdout + \
            subprocess.run([self.cli, "--version"], capture_output=True, text=True).stderr
        self.assertIn("aws-cli/1.", out)

    def test_move_task(self):
        dlq = self.aws("create-queue", "--queue-name", "cli-move-dlq")["QueueUrl"]
        policy = json.dumps({"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": 1})
        src = self.aws("create-queue", "--queue-name", "cli-move-src", "--attributes",
                       json.dumps({"RedrivePolicy": policy}))["QueueUrl"]
        self.sqs.send_message(QueueUrl=src, MessageBody="m")
        self.receive(src, VisibilityTimeout=0)
        self.assertEqual(self.receive(src, wait=1), [])
        handle = self.aws("start-message-move-task", "--source-arn", self.arn(dlq))["TaskHandle"]
        self.assertTrue(handle)
        tasks = self.aws("list-message-move-tasks", "--source-arn", self.arn(dlq))["Results"]
        self.assertEqual(tasks[0]["SourceArn"], self.arn(dlq))
        self.assertEqual([m["Body"] for m in self.receive(src, wait=2)], ["m"])


@unittest.skipUnless(CLI_V2 and (PROTOCOL == "query" or BOTH), "CLI v2 runs with the query interpreter")
class CliV2(CliTestCase):
    cli, cli_name = CLI_V2, "v2"

    def test_version(self):
        out = subprocess.run([self.cli, "--version"], capture_output=True, text=True).stdout
        self.assertIn("aws-cli/2.", out)


del CliTestCase  # the base runs only through its subclasses

if __name__ == "__main__":
    unittest.main()
