"""kill -9 under load: nothing acknowledged is lost, nothing deleted comes back.

Clients send (single and batch) and receive+delete concurrently while the
daemon is killed with SIGKILL at a random moment; it restarts on the same data
directory and the queue is drained. Every send that was acknowledged must be
in the queue or have had a delete attempted; no message whose delete was
acknowledged may reappear. Repeated for each fsync policy (under kill -9 all
three must keep acknowledged writes: they are acknowledged only once written).
"""
import random
import threading
import time
import unittest

import botocore

from sluice_harness import VALGRIND, Sluice

SENDERS = 3
DELETERS = 2
LOAD_SECONDS = (1.0, 2.5)


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}             # body -> message id, acknowledged sends
        self.delete_tried = set()  # message ids whose delete was sent
        self.deleted = set()       # message ids whose delete was acknowledged


def sender(client, url, ledger, stop, tid):
    n = 0
    while not stop.is_set():
        try:
            if n % 3 == 0:
                bodies = ["t%d-m%d-%d" % (tid, n, i) for i in range(10)]
                r = client.send_message_batch(
                    QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
                with ledger.lock:
                    for ok in r.get("Successful", []):
                        ledger.sent[bodies[int(ok["Id"])]] = ok["MessageId"]
            else:
                body = "t%d-m%d" % (tid, n)
                r = client.send_message(QueueUrl=url, MessageBody=body)
                with ledger.lock:
                    ledger.sent[body] = r["MessageId"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return  # the daemon is gone
        n += 1


def deleter(client, url, ledger, stop):
    while not stop.is_set():
        try:
            msgs = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2).get("Messages", [])
            for m in msgs:
                with ledger.lock:
                    ledger.delete_tried.add(m["MessageId"])
                client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                with ledger.lock:
                    ledger.deleted.add(m["MessageId"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return


def drain(client, url):
    """Everything left in the queue, by message id (in-flight ones included
    once their visibility has run out)."""
    present = {}
    deadline = time.time() + 15
    while time.time() < deadline:
        attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        visible = int(attrs["ApproximateNumberOfMessages"])
        hidden = int(attrs["ApproximateNumberOfMessagesNotVisible"])
        if visible == 0 and hidden == 0:
            break
        r = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600, WaitTimeSeconds=1)
        for m in r.get("Messages", []):
            present[m["MessageId"]] = m["Body"]
    return present


@unittest.skipIf(VALGRIND, "under valgrind: kill -9 cycles and load measure the store and the timing, not memory")
class CrashRecovery(unittest.TestCase):
    def run_round(self, fsync, seed):
        rnd = random.Random(seed)
        daemon = Sluice(args=["--fsync", fsync]).start()
        try:
            url = daemon.client().create_queue(QueueName="crash")["QueueUrl"]
            ledger, stop = Ledger(), threading.Event()
            threads = [threading.Thread(target=sender, args=(daemon.client(), url, ledger, stop, t))
                       for t in range(SENDERS)]
            threads += [threading.Thread(target=deleter, args=(daemon.client(), url, ledger, stop))
                        for _ in range(DELETERS)]
            for t in threads:
                t.start()
            time.sleep(rnd.uniform(*LOAD_SECONDS))
            daemon.kill9()
            stop.set()
            for t in threads:
                t.join(10)
            restarted = Sluice(data_dir=daemon.data_dir, args=["--fsync", fsync]).start()
            present = drain(restarted.client(), url)
            self.assertEqual(restarted.stop(), 0, restarted.read_log())
            restarted.cleanup()
        finally:
            daemon.own_dir = True
            daemon.cleanup()
        self.check(ledger, present, fsync)

    def check(self, ledger, present, fsync):
        self.assertGreater(len(ledger.sent), 50, "the load did not get going")
        lost = [b for b, mid in ledger.sent.items() if mid not in present and mid not in ledger.delete_tried]
        resurrected = ledger.deleted & set(present)
        self.assertEqual(lost, [], "%s: acknowledged sends lost" % fsync)
        self.assertEqual(resurrected, set(), "%s: acknowledged deletes came back" % fsync)
        known = set(ledger.sent.values())
        # anything present must have been sent (a send may be durable without its ack)
        self.assertTrue(all(body.startswith("t") for body in present.values()))
        print("  %s: %d sends acked, %d deletes acked, %d present after restart, %d unacked-but-durable"
              % (fsync, len(ledger.sent), len(ledger.deleted), len(present), len(set(present) - known)))

    def test_kill9_fsync_always(self):
        for seed in (1, 2):
            self.run_round("always", seed)

    def test_kill9_fsync_interval(self):
        self.run_round("interval", 3)

    def test_kill9_fsync_off(self):
        self.run_round("off", 4)


if __name__ == "__main__":
    unittest.main()
