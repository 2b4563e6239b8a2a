"""Long polling against AWS: WaitTimeSeconds 0..20 and the queue default
ReceiveMessageWaitTimeSeconds; a waiting receive answers as soon as a message
is sent or becomes visible, well before its wait time."""
import os
import threading
import time
import unittest

import botocore

from sqs_truth import SqsTestCase, recorded


class Poller:
    """A ReceiveMessage running on its own thread and client."""

    def __init__(self, sluice, url, **kw):
        self.client = sluice.client()
        self.url, self.kw = url, kw
        self.result, self.error, self.elapsed = None, None, None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        t0 = time.time()
        try:
            self.result = self.client.receive_message(QueueUrl=self.url, **self.kw).get("Messages", [])
        except botocore.exceptions.ClientError as e:
            self.error = e.response["Error"]
        self.elapsed = time.time() - t0

    def join(self, timeout=25):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "receive did not return"
        return self


def settle():
    """Gives a poller started just now time to reach the daemon and wait."""
    time.sleep(0.3)


class LongPoll(SqsTestCase):
    def test_wait_time_bounds_as_recorded(self):
        t = "test_send_receive_wait_time_seconds"
        url = self.queue("bounds")
        self.assertRecordedError(t, "recieve_message_error_too_large", self.sqs.receive_message, QueueUrl=url,
                                 WaitTimeSeconds=21)
        self.assertRecordedError(t, "recieve_message_error_too_small", self.sqs.receive_message, QueueUrl=url,
                                 WaitTimeSeconds=-1)
        # short polls (default and explicit 0) return what is there
        for key, kw in (("empty_short_poll_by_default_resp", {}),
                        ("empty_short_poll_explicit_resp", {"WaitTimeSeconds": 0})):
            self.sqs.send_message(QueueUrl=url, MessageBody="message")
            got = self.sqs.receive_message(QueueUrl=url, **kw)["Messages"]
            want = recorded(t, key)["Messages"]
            self.assertEqual([(m["Body"], m["MD5OfBody"]) for m in got], [(m["Body"], m["MD5OfBody"]) for m in want])
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])

    def test_empty_wait_lasts_wait_time(self):
        url = self.queue("emptywait")
        t0 = time.time()
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1))
        self.assertGreaterEqual(time.time() - t0, 0.95)
        self.assertLess(time.time() - t0, 1.9)

    def test_send_wakes_waiter(self):
        url = self.queue("wakesend")
        p = Poller(self.sluice, url, WaitTimeSeconds=10, MaxNumberOfMessages=10)
        settle()
        self.sqs.send_message(QueueUrl=url, MessageBody="wake")
        p.join()
        self.assertEqual([m["Body"] for m in p.result], ["wake"])
        self.assertLess(p.elapsed, 2.0)  # not the 10 s wait, and not waiting to fill 10

    def test_batch_send_wakes_waiter(self):
        url = self.queue("wakebatch")
        p = Poller(self.sluice, url, WaitTimeSeconds=10, MaxNumberOfMessages=10)
        settle()
        self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "a"}])
        p.join()
        self.assertEqual([m["Body"] for m in p.result], ["a"])
        self.assertLess(p.elapsed, 2.0)

    def test_visibility_expiry_wakes_waiter(self):
        url = self.queue("wakevis", VisibilityTimeout=1)
        self.sqs.send_message(QueueUrl=url, MessageBody="again")
        self.assertEqual(len(self.receive(url)), 1)
        t0 = time.time()
        got = self.receive(url, wait=10)
        self.assertEqual([m["Body"] for m in got], ["again"])
        self.assertLess(time.time() - t0, 2.5)

    def test_delay_expiry_wakes_waiter(self):
        url = self.queue("wakedelay")
        self.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
        t0 = time.time()
        got = self.receive(url, wait=10)
        self.assertEqual([m["Body"] for m in got], ["later"])
        self.assertGreaterEqual(time.time() - t0, 0.8)
        self.assertLess(time.time() - t0, 2.5)

    def test_change_visibility_to_zero_wakes_waiter(self):
        url = self.queue("wakecmv")
        self.sqs.send_message(QueueUrl=url, MessageBody="back")
        h = self.receive(url)[0]["ReceiptHandle"]
        p = Poller(self.sluice, url, WaitTimeSeconds=10)
        settle()
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=0)
        p.join()
        self.assertEqual([m["Body"] for m in p.result], ["back"])
        self.assertLess(p.elapsed, 2.0)

    def test_fifo_group_unblock_wakes_waiter(self):
        url = self.queue("wakefifo.fifo", ContentBasedDeduplication="true")
        for b in ("one", "two"):
            self.sqs.send_message(QueueUrl=url, MessageBody=b, MessageGroupId="g")
        first = self.receive(url, n=1)
        p = Poller(self.sluice, url, WaitTimeSeconds=10)
        settle()
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        p.join()
        self.assertEqual([m["Body"] for m in p.result], ["two"])
        self.assertLess(p.elapsed, 2.0)

    def test_one_message_wakes_one_of_many_waiters(self):
        url = self.queue("many")
        polls = [Poller(self.sluice, url, WaitTimeSeconds=2) for _ in range(4)]
        settle()
        self.sqs.send_message(QueueUrl=url, MessageBody="only")
        for p in polls:
            p.join()
        winners = [p for p in polls if p.result]
        self.assertEqual(len(winners), 1)
        self.assertLess(winners[0].elapsed, 1.5)
        self.assertTrue(all(p.elapsed >= 1.8 for p in polls if not p.result))

    def test_queue_default_wait_time(self):
        url = self.queue("default", ReceiveMessageWaitTimeSeconds=1)
        t0 = time.time()
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        self.assertGreaterEqual(time.time() - t0, 0.95)
        t0 = time.time()
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0))
        self.assertLess(time.time() - t0, 0.5)
        p = Poller(self.sluice, url)  # waits by the queue's default
        settle()
        self.sqs.send_message(QueueUrl=url, MessageBody="x")
        p.join()
        self.assertEqual(len(p.result), 1)
        self.assertLess(p.elapsed, 0.95)

    def test_delete_queue_answers_waiter(self):
        url = self.queue("deleted")
        p = Poller(self.sluice, url, WaitTimeSeconds=10)
        settle()
        self.sqs.delete_queue(QueueUrl=url)
        p.join()
        self.assertLess(p.elapsed, 2.0)
        self.assertFalse(p.result)


class Shutdown(SqsTestCase):
    def test_stop_answers_waiting_receives(self):
        url = self.queue("stop")
        polls = [Poller(self.sluice, url, WaitTimeSeconds=20) for _ in range(3)]
        settle()
        t0 = time.time()
        rc = self.sluice.stop()
        self.assertEqual(rc, 0)
        for p in polls:
            p.join(timeout=10)
            self.assertEqual(p.result, [])
        self.assertLess(time.time() - t0, 5.0)
        # a daemon again for tearDownClass, owning the directory from now on
        old = self.sluice
        new = old.__class__(data_dir=old.data_dir)
        new.own_dir = True
        type(self).sluice = new.start()
        os.unlink(old.log_path)


if __name__ == "__main__":
    unittest.main()
