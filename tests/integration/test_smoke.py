"""The seed's queue path end to end: create, send, receive, delete."""
import unittest

from sluice_harness import SluiceTestCase


class Smoke(SluiceTestCase):
    def test_send_receive_delete(self):
        url = self.queue("smoke")
        sent = self.sqs.send_message(QueueUrl=url, MessageBody='{"operation":"division","number":1000}')
        got = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["MessageId"], sent["MessageId"])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))

    def test_open_mode_says_so_at_start(self):
        """The default auth.mode is open (these clients' keys are never checked), and the log says so."""
        log = self.sluice.read_log()
        self.assertIn("level=warn event=auth_open mode=open", log)
        self.assertIn("AWS-protocol requests are not authenticated; set auth.mode: sigv4", log)


if __name__ == "__main__":
    unittest.main()
