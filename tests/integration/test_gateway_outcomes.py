"""What a client reads about its request through the gateway, end to end:
ACCEPTED → RUNNING → SUCCEEDED | FAILED | DEAD_LETTERED | EXPIRED.

  * a request that always fails (the seed's division by zero) reads RUNNING
    with lastError between its attempts — never a final FAILED while its
    queue still retries it — and, once its message reaches the dead-letter
    queue, the client's long poll answers DEAD_LETTERED with attempts and
    the last error; the same through a non-raw (SNS-enveloped)
    subscription, where the request id travels inside the envelope;
  * an `enqueue` route whose queue is consumed by something else than a
    mapping: the dead-letter move alone makes the record DEAD_LETTERED;
  * a slow worker: the record reads RUNNING (startedAt, attempts) while the
    worker runs; a result that arrives after the deadline is stored but
    leaves the record EXPIRED, as a reader at the deadline saw it;
  * the log lines of failed attempts and dead-letter moves name the request.
"""
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import WORKERS_SO, FunctionsTestCase, queue_counts, queue_url, table_get, timeout  # noqa: E402

CONFIG = """
queues:
  - name: division-dlq
  - name: division
    attributes: { VisibilityTimeout: 1 }
    redrive: { dead_letter_queue: division-dlq, max_receive_count: 3 }
  - name: enveloped-dlq
  - name: enveloped
    attributes: { VisibilityTimeout: 1 }
    redrive: { dead_letter_queue: enveloped-dlq, max_receive_count: 3 }
  - name: jobs-dlq
  - name: jobs
    redrive: { dead_letter_queue: jobs-dlq, max_receive_count: 2 }
  - name: slow
    attributes: { VisibilityTimeout: 30 }
topics:
  - name: calculator
    subscriptions:
      - queue: division
        filter_policy: { operation: [division] }
        raw_message_delivery: true
      - queue: enveloped
        filter_policy: { operation: [enveloped] }
tables:
  - name: results
    partition_key: requestId
    ttl_attribute: expiresAt
functions:
  - name: division
    handler: %(so)s:division
  - name: sleeper
    kind: http
    handler: %(url)s
    timeout: 10
    concurrency: 4
mappings:
  - function: division
    queue: division
    report_batch_item_failures: true
    on_success: table:results
    on_failure: table:results
  - function: division
    queue: enveloped
    report_batch_item_failures: true
    on_success: table:results
    on_failure: table:results
  - function: sleeper
    queue: slow
    batch_size: 1
    on_success: table:results
    on_failure: table:results
gateway:
  results_table: results
  routes:
    - method: POST
      path: /calc
      integration: publish
      topic: calculator
      attributes: { operation: body.operation }
    - method: POST
      path: /jobs
      integration: enqueue
      queue: jobs
    - method: POST
      path: /slow
      integration: enqueue
      queue: slow
      sla: 30
    - method: POST
      path: /hurry
      integration: enqueue
      queue: slow
      sla: 2
"""

FINAL = {"SUCCEEDED", "FAILED", "DEAD_LETTERED", "EXPIRED"}


def call(s, method, path, body=None):
    """(status, parsed JSON body, raw body text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(s.endpoint + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read().decode()
            return r.status, json.loads(raw), raw
    except urllib.error.HTTPError as e:
        raw = e.read().decode()
        return e.code, json.loads(raw), raw


def sleeper(event, n):
    """The http function: each record's body says how long to work (≤ 5 s)."""
    slept = 0
    for r in event["Records"]:
        slept = min(float(json.loads(r["body"]).get("sleep", 0)), 5.0)
        time.sleep(slept)
    return {"slept": slept}


class Outcomes(FunctionsTestCase):
    def start(self):
        self.srv = self.fn_server(sleeper)
        return self.daemon(CONFIG % {"so": WORKERS_SO, "url": self.srv.url})

    def accept(self, s, path, body):
        status, doc, _ = call(s, "POST", path, body)
        self.assertEqual((status, doc["status"]), (202, "ACCEPTED"), doc)
        return doc

    def watch(self, s, doc, until, seconds):
        """Reads the record (no wait) until until(record) holds; returns every
        record read, in order. Fails if a record that was final changes."""
        seen = []

        def read():
            status, rec, _ = call(s, "GET", doc["statusUrl"])
            if seen and seen[-1]["status"] in FINAL:
                self.assertEqual(rec, seen[-1], "a final record changed")
            self.assertEqual(status, 200 if rec["status"] in FINAL else 202, rec)
            seen.append(rec)
            return until(rec)
        self.wait(read, seconds, lambda: "the record of %s (read %r)" % (doc["requestId"], seen[-3:]))
        return seen

    def check_dead_lettered(self, s, body, dlq, error_message=None):
        doc = self.accept(s, "/calc", body)
        rid = doc["requestId"]
        # between attempts: RUNNING with the last attempt's error, never FAILED
        seen = self.watch(s, doc, lambda r: r["status"] == "RUNNING" and "lastError" in r, 20)
        running = seen[-1]
        self.assertEqual(running["attempts"], 1, running)
        self.assertEqual(running["function"], "division", running)
        self.assertEqual(running["acceptedAt"], doc["acceptedAt"], running)
        self.assertNotIn("startedAt", running)  # a first attempt this quick is not marked RUNNING itself
        if error_message:
            self.assertEqual(running["lastError"]["errorMessage"], error_message, running)
        # the client's long poll answers when the message reaches the dead-letter queue
        status, dead, raw = call(s, "GET", doc["statusUrl"] + "?wait=20")
        self.assertEqual((status, dead["status"]), (200, "DEAD_LETTERED"), dead)
        self.assertEqual(dead["attempts"], 3, dead)
        self.assertEqual(dead["deadLetterQueue"], dlq, dead)
        self.assertRegex(dead["startedAt"], r"^\d{4}-")  # the retries were marked RUNNING as they started
        self.assertRegex(dead["deadLetteredAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(dead["lastError"]["errorType"], "InvalidRecord", dead)
        if error_message:
            self.assertEqual(dead["lastError"]["errorMessage"], error_message, dead)
        self.assertNotIn("result", dead)
        self.assertEqual((dead["requestId"], dead["deadline"], dead["route"]), (rid, doc["deadline"], "POST /calc"))
        self.assertEqual(raw.count('"status"'), 1, raw)
        sqs = s.client()
        self.assertEqual(queue_counts(sqs, queue_url(sqs, dlq))[0], 1)
        # the record stays as it is (the hooks of both the gateway and the mapping saw the move)
        self.assertEqual(call(s, "GET", doc["statusUrl"])[1], dead)
        statuses = [r["status"] for r in self.watch(s, doc, lambda r: True, 5) + seen]
        self.assertNotIn("FAILED", statuses)
        return rid

    def test_division_by_zero_reads_running_then_dead_lettered(self):
        s = self.start()
        rid = self.check_dead_lettered(s, {"operation": "division", "number": 1, "divisor": 0}, "division-dlq",
                                       "division by zero")
        log = s.read_log()
        self.assertIn("event=mapping_record_failed", log)
        self.assertRegex(log, r"event=mapping_record_failed [^\n]*request_id=%s" % rid)
        self.assertRegex(log, r"event=message_dead_lettered queue=division dead_letter_queue=division-dlq "
                              r"[^\n]*receive_count=3 request_id=%s" % rid)

    def test_enveloped_subscription_finds_the_request_id_in_the_envelope(self):
        """A non-raw subscription: the queue's message is the SNS envelope and
        the request id one of its MessageAttributes. (The division worker
        refuses the envelope as a request, so every attempt fails.)"""
        s = self.start()
        self.check_dead_lettered(s, {"operation": "enveloped", "number": 1, "divisor": 0}, "enveloped-dlq")
        ids = [it["requestId"] for it in json.loads(urllib.request.urlopen(
            s.endpoint + "/_sluice/tables/results").read())["Items"]]
        self.assertEqual(len(ids), 1, "records under anything but the request id: %r" % ids)

    def test_enqueue_route_dead_lettered_by_another_consumer(self):
        """No mapping consumes jobs: a client receives and never deletes. The
        dead-letter move alone tells the record (through the gateway's hook)."""
        s = self.start()
        doc = self.accept(s, "/jobs", {"task": "never done"})
        got = {}
        waiter = threading.Thread(target=lambda: got.update(r=call(s, "GET", doc["statusUrl"] + "?wait=20")))
        waiter.start()
        sqs = s.client()
        jobs, dlq = queue_url(sqs, "jobs"), queue_url(sqs, "jobs-dlq")
        for _ in range(20):  # receives 1 and 2 count; the third moves it
            if queue_counts(sqs, dlq)[0] == 1:
                break
            sqs.receive_message(QueueUrl=jobs, VisibilityTimeout=0, WaitTimeSeconds=0)
            time.sleep(0.1)  # visible again at the engine's next tick
        self.assertEqual(queue_counts(sqs, dlq)[0], 1)
        waiter.join(timeout(25))
        status, dead, _ = got["r"]
        self.assertEqual((status, dead["status"]), (200, "DEAD_LETTERED"), dead)
        self.assertEqual((dead["attempts"], dead["deadLetterQueue"]), (2, "jobs-dlq"), dead)
        self.assertNotIn("lastError", dead)
        self.assertEqual(dead["route"], "POST /jobs")

    def test_running_while_a_slow_worker_works(self):
        s = self.start()
        doc = self.accept(s, "/slow", {"sleep": 2})
        seen = self.watch(s, doc, lambda r: r["status"] != "ACCEPTED", 10)
        running = seen[-1]
        self.assertEqual(running["status"], "RUNNING", running)
        self.assertEqual(running["attempts"], 1, running)
        self.assertRegex(running["startedAt"], r"^\d{4}-\d\d-\d\dT")
        self.assertNotIn("completedAt", running)
        self.assertEqual(len(self.srv.calls), 0, "the worker answered already; too fast to see it running")
        status, done, _ = call(s, "GET", doc["statusUrl"] + "?wait=20")
        self.assertEqual((status, done["status"]), (200, "SUCCEEDED"), done)
        self.assertEqual(done["result"], {"slept": 2.0})
        self.assertEqual((done["startedAt"], done["attempts"]), (running["startedAt"], 1))

    def test_a_result_after_the_deadline_leaves_the_record_expired(self):
        s = self.start()
        doc = self.accept(s, "/hurry", {"sleep": 4})  # sla 2 s
        seen = self.watch(s, doc, lambda r: r["status"] != "ACCEPTED", 10)
        self.assertEqual(seen[-1]["status"], "RUNNING", seen[-1])
        # the long poll answers at the deadline: EXPIRED
        status, expired, _ = call(s, "GET", doc["statusUrl"] + "?wait=20")
        self.assertEqual((status, expired["status"]), (200, "EXPIRED"), expired)
        self.assertNotIn("result", expired)
        # the worker's late result is stored, and the record stays EXPIRED
        late = self.wait(lambda: (lambda it: it if it and "result" in it else None)(
            table_get(s.endpoint, "results", doc["requestId"])), 15, "the late result")
        self.assertEqual(late["status"], "EXPIRED", late)
        self.assertEqual(late["result"], {"slept": 4.0})
        self.assertGreaterEqual(late["completedAt"], doc["deadline"])
        status, rec, raw = call(s, "GET", doc["statusUrl"])
        self.assertEqual((status, rec["status"], rec["result"]), (200, "EXPIRED", {"slept": 4.0}))
        self.assertEqual(raw.count('"status"'), 1, raw)
        self.assertIn("event=request_expired", s.read_log())


if __name__ == "__main__":
    import unittest
    unittest.main()
