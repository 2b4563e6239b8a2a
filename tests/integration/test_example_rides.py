"""examples/rides (seed 002), started from its own sluice.yaml and walked as
its README walks it: POST /ride answers 202 at once and the ride appears at
GET /rides/{rideId} once the subscribed function has recorded it (404
before, and for rides never sent), while the request's record reads
SUCCEEDED with the ride (`sluice call` waits for it); a body the schema refuses is 400 naming
the field; a burst of rides is recorded whole; an event published to the
topic without a RideId reaches rides-dlq as Lambda's failure record after
the function's retries."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import REPO, SLOW  # noqa: E402
from sluice_harness import ACCOUNT, REGION, SLUICE_BIN, ConfigDaemonCase  # noqa: E402
from test_example_calculator import request  # noqa: E402

EXAMPLE = os.path.join(REPO, "examples", "rides")


def ride(i):
    return {"RideId": "ride-%04d" % i, "Unicorn": {"Name": "Shadowfax", "Color": "White"},
            "UnicornName": "Shadowfax", "RequestTime": "2026-11-24T09:00:00.000Z", "User": "rider-%d" % i}


class RidesExample(ConfigDaemonCase):
    CONFIG = os.path.join(EXAMPLE, "sluice.yaml")

    def wait_ride(self, ride_id, timeout=20):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            status, _, doc = request(self.ep, "GET", "/rides/" + ride_id)
            if status == 200:
                return doc
            self.assertEqual(status, 404, doc)
            time.sleep(0.05)
        self.fail("ride %s never recorded" % ride_id)

    def test_readme_ride_file(self):
        with open(os.path.join(EXAMPLE, "ride.json")) as f:
            body = json.load(f)
        status, hdrs, acc = request(self.ep, "POST", "/ride", body)
        self.assertEqual(status, 202, acc)
        self.assertEqual(acc["status"], "ACCEPTED")
        self.assertEqual(self.wait_ride(body["RideId"]), body)
        # the request's own record: the subscribed function ran under its id
        status, _, rec = request(self.ep, "GET", hdrs["Location"] + "?wait=20", timeout=40)
        self.assertEqual((status, rec["status"], rec["function"], rec["result"]), (200, "SUCCEEDED", "record-ride", body))

    def test_sluice_call_waits_for_the_recorded_ride(self):
        r = ride(7)
        p = subprocess.run([SLUICE_BIN, "call", "--endpoint", self.ep, "POST", "/ride", "-d", json.dumps(r)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('"status": "SUCCEEDED"', p.stdout)
        self.assertEqual(self.wait_ride(r["RideId"]), r)

    def test_unknown_ride_404(self):
        status, _, doc = request(self.ep, "GET", "/rides/never-sent")
        self.assertEqual(status, 404, doc)

    def test_invalid_rides_400(self):
        for body, field in (({"RideId": "r 2", "Unicorn": {"Name": "x"}, "RequestTime": "t"}, "$.RideId"),
                            ({"RideId": "r3", "RequestTime": "t"}, "$.Unicorn"),
                            ({"RideId": "r4", "Unicorn": {}, "RequestTime": "t"}, "$.Unicorn.Name")):
            status, _, doc = request(self.ep, "POST", "/ride", body)
            self.assertEqual(status, 400, body)
            self.assertTrue(doc["errors"][0].startswith(field + ":"), doc)

    def test_a_burst_of_rides_is_recorded_whole(self):
        for i in range(100, 300):
            status, _, _ = request(self.ep, "POST", "/ride", ride(i))
            self.assertEqual(status, 202)
        for i in range(100, 300):
            self.assertEqual(self.wait_ride("ride-%04d" % i)["User"], "rider-%d" % i)

    def test_unrecordable_event_goes_to_the_dlq(self):
        sns = self.sluice.client("sns")
        sns.publish(TopicArn="arn:aws:sns:%s:%s:rides" % (REGION, ACCOUNT),
                    Message=json.dumps({"Unicorn": {"Name": "Bucephalus"}}))
        sqs = self.sluice.client("sqs")
        url = sqs.get_queue_url(QueueName="rides-dlq")["QueueUrl"]
        deadline, msgs = time.monotonic() + 20 * SLOW, []
        while not msgs and time.monotonic() < deadline:
            msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        self.assertTrue(msgs, "nothing reached rides-dlq")
        rec = json.loads(msgs[0]["Body"])
        self.assertEqual(rec["requestContext"]["condition"], "RetriesExhausted")
        self.assertEqual(rec["requestContext"]["approximateInvokeCount"], 3)
        self.assertIn("Bucephalus", json.dumps(rec["requestPayload"]))


if __name__ == "__main__":
    unittest.main()
