"""kill -9 during a publish storm: no partial fan-out, nothing acknowledged lost.

A topic fans out to three queues. Publishers (Publish and PublishBatch) run
while the daemon is killed with SIGKILL at a random moment; it restarts on
the same data directory and the three queues are drained. Every
acknowledged publish must be in all three queues, and every message that is
in any queue must be in all three: a publish is one atomic store group, so a
crash cannot leave it delivered to some subscriptions and not others."""
import json
import random
import threading
import time
import unittest

import botocore

from sluice_harness import VALGRIND, Sluice

PUBLISHERS = 3


def publisher(sns, topic, acked, lock, stop, tid):
    n = 0
    while not stop.is_set():
        try:
            if n % 4 == 0:
                r = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                    {"Id": str(i), "Message": "t%d-%d-%d" % (tid, n, i)} for i in range(10)])
                ids = [e["MessageId"] for e in r["Successful"]]
            else:
                ids = [sns.publish(TopicArn=topic, Message="t%d-%d" % (tid, n))["MessageId"]]
            with lock:
                acked.update(ids)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return
        n += 1


@unittest.skipIf(VALGRIND, "under valgrind: kill -9 cycles and load measure the store and the timing, not memory")
class PublishCrash(unittest.TestCase):
    def drain(self, sqs, url):
        ids = []
        for _ in range(100000):
            ms = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not ms:
                break
            ids += [json.loads(m["Body"])["MessageId"] for m in ms]
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ms)])
        return ids

    def test_kill9_during_publish_storm(self):
        s = Sluice().start()
        try:
            sqs, sns = s.client(), s.client("sns")
            topic = sns.create_topic(Name="storm")["TopicArn"]
            urls = []
            for i in range(3):
                url = sqs.create_queue(QueueName="fan-%d" % i)["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
                urls.append(url)
            acked, lock, stop = set(), threading.Lock(), threading.Event()
            threads = [threading.Thread(target=publisher, args=(s.client("sns"), topic, acked, lock, stop, t))
                       for t in range(PUBLISHERS)]
            for t in threads:
                t.start()
            time.sleep(random.uniform(1.0, 2.5))
            s.kill9()
            stop.set()
            for t in threads:
                t.join(30)
            self.assertGreater(len(acked), 50, "the storm published too little to prove anything")
            s.start()
            sqs = s.client()
            got = [self.drain(sqs, u) for u in urls]
            sets = [set(g) for g in got]
            for g, st in zip(got, sets):
                self.assertEqual(len(g), len(st), "a message was delivered twice into one queue")
            self.assertEqual(sets[0], sets[1], "partial fan-out after the crash")
            self.assertEqual(sets[0], sets[2], "partial fan-out after the crash")
            self.assertEqual(acked - sets[0], set(), "acknowledged publishes were lost")
        finally:
            s.cleanup()


if __name__ == "__main__":
    unittest.main()
