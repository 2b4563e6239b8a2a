"""How work flows into functions: FIFO group order under concurrency, a
rate-limited mapping, and topic subscriptions that invoke functions.

  * FIFO: a mapping may run up to 10 batches at once, yet each message
    group is processed in send order — the queue hands a group out only
    while none of its messages is in flight, and a failed record fails the
    later records of its group.
  * rate: a mapping with `rate: R` and batch size B takes at most
    R·T + min(R, B) messages over any interval T (mapping.c).
  * topic → function: a publish invokes the function asynchronously with
    Lambda's SNS event; its result goes to the function's on_success
    destination; a failed attempt is retried."""
import json
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import (WORKERS_SO, FunctionsTestCase, queue_empty, queue_url, str_attr, table_get,  # noqa: E402
                      table_scan, timeout)

FIFO_CONFIG = """
queues:
  - name: orders.fifo
    attributes: { FifoQueue: true, VisibilityTimeout: 2 }
functions:
  - name: ordered
    kind: http
    handler: %(url)s
    timeout: 10
    concurrency: 10
mappings:
  - function: ordered
    queue: orders.fifo
    batch_size: 10
    max_concurrency: 10
    report_batch_item_failures: true
"""

GROUPS, PER_GROUP = 10, 20


class FifoOrder(FunctionsTestCase):
    def test_group_order_under_concurrency_10(self):
        rnd = random.Random(7)
        lock = threading.Lock()
        firsts = {}     # group -> seqs in order of their first successful processing
        done = set()    # (group, seq) processed successfully at least once
        failures = [0]

        def handler(event, n):
            with lock:
                pause, draws = rnd.uniform(0.002, 0.02), [rnd.random() for _ in event["Records"]]
            time.sleep(pause)
            failed_groups, fails = set(), []
            for r, draw in zip(event["Records"], draws):
                group, seq = r["attributes"]["MessageGroupId"], json.loads(r["body"])["seq"]
                # a FIFO handler fails the rest of a group once one of its records failed
                if group in failed_groups or (r["attributes"]["ApproximateReceiveCount"] == "1" and draw < 0.08):
                    failed_groups.add(group)
                    fails.append({"itemIdentifier": r["messageId"]})
                    continue
                with lock:
                    if (group, seq) not in done:
                        done.add((group, seq))
                        firsts.setdefault(group, []).append(seq)
            with lock:
                failures[0] += len(fails)
            return {"batchItemFailures": fails}
        srv = self.fn_server(handler)
        s = self.daemon(FIFO_CONFIG % {"url": srv.url})
        sqs = s.client()
        url = queue_url(sqs, "orders.fifo")
        for seq in range(PER_GROUP):  # interleaved: one message of every group per call
            r = sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": "g%d" % g, "MessageBody": json.dumps({"seq": seq}), "MessageGroupId": "g%d" % g,
                 "MessageDeduplicationId": "g%d-%d" % (g, seq)} for g in range(GROUPS)])
            self.assertEqual(len(r["Successful"]), GROUPS)
        self.wait(lambda: len(done) == GROUPS * PER_GROUP and queue_empty(sqs, url), 60,
                  lambda: "all %d messages processed (%d so far)" % (GROUPS * PER_GROUP, len(done)))
        for g in range(GROUPS):
            self.assertEqual(firsts["g%d" % g], list(range(PER_GROUP)), "group g%d out of order" % g)
        self.assertGreater(failures[0], 0, "no record failed: the retry path was not exercised")
        self.assertGreater(srv.max_inflight, 1, "batches never ran concurrently")
        # no group was ever in two invocations at once
        calls = sorted(srv.calls, key=lambda c: c.t0)
        for i, a in enumerate(calls):
            ga = {r["attributes"]["MessageGroupId"] for r in a.records}
            for b in calls[i + 1:]:
                if b.t0 >= a.t1:
                    break
                self.assertFalse(ga & {r["attributes"]["MessageGroupId"] for r in b.records},
                                 "a group was in two concurrent batches")
        print("  %d invocations, %d record failures, at most %d at once"
              % (len(srv.calls), failures[0], srv.max_inflight), file=sys.stderr)


# ---- rate ------------------------------------------------------------------------------------------

RATE, BATCH, SENT = 20, 5, 100

RATE_CONFIG = """
queues:
  - name: burst
functions:
  - name: metered
    kind: http
    handler: %(url)s
    timeout: 10
    concurrency: 10
mappings:
  - function: metered
    queue: burst
    batch_size: %(batch)d
    rate: %(rate)d
"""


class RateLimit(FunctionsTestCase):
    def test_rate_never_exceeded(self):
        srv = self.fn_server(lambda event, n: {})
        s = self.daemon(RATE_CONFIG % {"url": srv.url, "batch": BATCH, "rate": RATE})
        sqs = s.client()
        url = queue_url(sqs, "burst")
        for k in range(0, SENT, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": "m%d" % (k + i)} for i in range(10)])
        # bounded: at 20/s the 100 messages take about 5 s
        deadline = time.time() + timeout(8)
        while time.time() < deadline and len(srv.records()) < SENT:
            time.sleep(0.1)
        if len(srv.records()) < SENT:
            time.sleep(0.3)  # what the mapping already received reaches the handler
        with srv.lock:
            calls = sorted(srv.calls, key=lambda c: c.t0)
        got = sum(len(c.records) for c in calls)
        self.assertGreaterEqual(got, SENT // 2, "the mapping did not get going")
        self.assertLessEqual(max(len(c.records) for c in calls), BATCH)
        burst = min(RATE, BATCH)

        # receipt by the mapping (the records' ApproximateFirstReceiveTimestamp, what the token
        # bucket meters): every interval [t_i, t_j] holds at most rate*T + burst records (i = first,
        # j = last: the whole run)
        ts = sorted(int(r["attributes"]["ApproximateFirstReceiveTimestamp"]) for c in calls for r in c.records)
        self.assertTrue(all(ts), "records without a first-receive timestamp")
        for i in range(len(ts)):
            for j in range(i, len(ts)):
                span = (ts[j] - ts[i] + 10) / 1000.0  # +10 ms: whole-millisecond stamps, wall vs loop clock
                self.assertLessEqual(j - i + 1, RATE * span + burst, "%d records received within %.3f s"
                                     % (j - i + 1, span))

        # arrival at the handler: every 1-second window holds at most rate + burst records,
        # give or take the spread of the receive-to-arrival delay (jitter, measured)
        delays = [c.t0 - min(int(r["attributes"]["ApproximateFirstReceiveTimestamp"]) for r in c.records) / 1000.0
                  for c in calls]
        jitter = max(delays) - min(delays)
        for i, c in enumerate(calls):
            in_window = sum(len(d.records) for d in calls[i:] if d.t0 < c.t0 + 1.0)
            self.assertLessEqual(in_window, RATE * (1.0 + jitter) + burst, "%d records arrived within 1 s of t=%.3f"
                                 " (jitter %.3f s)" % (in_window, c.t0 - calls[0].t0, jitter))
        span = (ts[-1] - ts[0]) / 1000.0
        print("  %d records in %d invocations over %.2f s (%.1f/s), arrival jitter %.3f s"
              % (got, len(calls), span, got / max(span, 1e-3), jitter), file=sys.stderr)


# ---- topic → function --------------------------------------------------------------------------------

TOPIC_CONFIG = """
topics:
  - name: rides
    subscriptions:
      - function: recorder
      - function: rides
tables:
  - name: events
    partition_key: id
  - name: log
    partition_key: requestId
functions:
  - name: recorder
    kind: http
    handler: %(url)s
    timeout: 5
    on_success: items:events
  - name: rides
    kind: plugin
    handler: %(so)s:rides
    timeout: 5
    on_success: table:log
    on_failure: table:log
"""

TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:rides"


class TopicToFunction(FunctionsTestCase):
    def test_publish_invokes_functions_with_sns_event(self):
        attempts = {}
        lock = threading.Lock()

        def recorder(event, n):
            sns = event["Records"][0]["Sns"]
            body = json.loads(sns["Message"])
            with lock:
                attempts[sns["MessageId"]] = attempts.get(sns["MessageId"], 0) + 1
                k = attempts[sns["MessageId"]]
            if body.get("flaky") and k == 1:
                return 500, b'{"message":"not yet"}'
            return {"id": sns["MessageId"], "message": sns["Message"], "source": event["Records"][0]["EventSource"],
                    "attempt": k}
        srv = self.fn_server(recorder)
        s = self.daemon(TOPIC_CONFIG % {"url": srv.url, "so": WORKERS_SO})
        sns = s.client("sns")
        ride = json.dumps({"RideId": "ride-1", "km": 12.5})
        mid = sns.publish(TopicArn=TOPIC_ARN, Message=ride, Subject="a ride",
                          MessageAttributes={"city": str_attr("Lisbon")})["MessageId"]

        item = self.wait_item(s, "events", mid)
        self.assertEqual(item, {"id": mid, "message": ride, "source": "aws:sns", "attempt": 1})
        call = [c for c in srv.calls if c.event["Records"][0]["Sns"]["MessageId"] == mid][0]
        self.assertEqual(len(call.event["Records"]), 1)
        rec = call.event["Records"][0]
        self.assertEqual(rec["EventSource"], "aws:sns")
        self.assertEqual(rec["EventVersion"], "1.0")
        self.assertTrue(rec["EventSubscriptionArn"].startswith(TOPIC_ARN + ":"), rec)
        self.assertEqual(rec["Sns"]["Type"], "Notification")
        self.assertEqual(rec["Sns"]["Message"], ride)
        self.assertEqual(rec["Sns"]["TopicArn"], TOPIC_ARN)
        self.assertEqual(rec["Sns"]["Subject"], "a ride")
        self.assertEqual(rec["Sns"]["MessageAttributes"], {"city": {"Type": "String", "Value": "Lisbon"}})

        # the C plugin got the same publish; table:log holds its result under the invocation's request id
        def logged():
            return [it for it in table_scan(s.endpoint, "log") if it["status"] == "SUCCEEDED"]
        log = self.wait(logged, 15, "the rides plugin's result in log")
        self.assertEqual(len(log), 1, log)
        self.assertEqual(log[0]["result"], {"RideId": "ride-1", "km": 12.5})
        self.assertEqual(log[0]["function"], "rides")
        self.assertEqual(table_get(s.endpoint, "log", log[0]["requestId"]), log[0])

        # an asynchronous invocation whose first attempt fails is retried (same request id)
        flaky = json.dumps({"RideId": "ride-2", "flaky": True})
        mid2 = sns.publish(TopicArn=TOPIC_ARN, Message=flaky)["MessageId"]
        item = self.wait_item(s, "events", mid2, seconds=20)
        self.assertEqual(item["attempt"], 2)
        calls = [c for c in srv.calls if c.event["Records"][0]["Sns"]["MessageId"] == mid2]
        self.assertEqual(len(calls), 2)
        rids = {c.headers.get("Lambda-Runtime-Aws-Request-Id") for c in calls}
        self.assertEqual(len(rids), 1, rids)
        # and a message the plugin refuses (no RideId) is recorded as FAILED after its retries
        bad = sns.publish(TopicArn=TOPIC_ARN, Message=json.dumps({"no": "ride"}))["MessageId"]
        self.wait_item(s, "events", bad)
        failed = self.wait(lambda: [it for it in table_scan(s.endpoint, "log") if it["status"] == "FAILED"], 20,
                           "the refused message recorded as FAILED")
        self.assertEqual(failed[0]["error"]["errorType"], "InvalidRecord", failed)
        self.assertEqual(failed[0]["attempts"], 3, failed)  # max_retries 2 (the default)

    def test_kill9_during_async_invocation_runs_it_again(self):
        """An accepted asynchronous invocation is durable: the daemon killed
        while the function runs it invokes it again after the restart."""
        release = threading.Event()

        def recorder(event, n):
            if n == 1:
                release.wait(timeout(20))  # the first call hangs until the daemon is gone
            sns = event["Records"][0]["Sns"]
            return {"id": sns["MessageId"], "message": sns["Message"], "call": n}
        srv = self.fn_server(recorder)
        config = TOPIC_CONFIG.replace("      - function: rides\n", "") % {"url": srv.url, "so": WORKERS_SO}
        s = self.daemon(config, fsync="always")
        mid = s.client("sns").publish(TopicArn=TOPIC_ARN, Message="survive me")["MessageId"]
        self.wait(lambda: srv.number >= 1, 10, "the first invocation")
        self.kill9(s)
        release.set()
        s2 = self.daemon(config, data_dir=s.data_dir, fsync="always")
        item = self.wait_item(s2, "events", mid, seconds=20)
        self.assertEqual(item["message"], "survive me")
        self.assertGreaterEqual(item["call"], 2, item)
        events = [c.event["Records"][0]["Sns"] for c in srv.calls]
        self.assertTrue(all(e["MessageId"] == mid and e["Message"] == "survive me" for e in events), events)


if __name__ == "__main__":
    unittest.main()
