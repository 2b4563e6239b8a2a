"""Functions under faults: a runtime that crashes, hangs past its timeout or
answers garbage; a handler that fails part of a batch; the daemon killed
with SIGKILL while batches are in flight.

What must hold: a message is never lost — a failed invocation leaves it in
its queue, it comes back after its visibility timeout and, after
maxReceiveCount receives, sits in the dead-letter queue; the function keeps
serving (a dead or killed runtime is replaced); only the records a handler
reports as failed come back; and a request's result is written at most
once (table:<name> never replaces a SUCCEEDED item)."""
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import (BUILD, C_BOOTSTRAP, FIXTURES, PY_BOOTSTRAP, PY_WORKERS, WORKERS_SO,  # noqa: E402
                      FunctionsTestCase, drain, http_get, queue_counts, queue_empty, queue_url, str_attr, table_scan,
                      timeout)

RUNTIME_CONFIG = """
queues:
  - name: work-dlq
  - name: work
    attributes: { VisibilityTimeout: 2 }
    redrive: { dead_letter_queue: work-dlq, max_receive_count: 2 }
tables:
  - name: results
    partition_key: requestId
functions:
  - name: worker
    kind: process
    command: %(command)s
    dir: %(dir)s
    handler: sqs_handlers.handler
    timeout: %(timeout)d
    concurrency: 1
    environment: { PYTHONDONTWRITEBYTECODE: "1" }
mappings:
  - function: worker
    queue: work
    batch_size: 1
    report_batch_item_failures: true
    on_success: table:results
    on_failure: table:results
"""


class RuntimeFaults(FunctionsTestCase):
    """One runtime slot (concurrency 1), so the message after the fault is
    necessarily served by whatever replaced the faulty runtime."""

    def run_fault(self, action, error_type, fn_timeout=10, command=PY_BOOTSTRAP):
        s = self.daemon(RUNTIME_CONFIG % {"command": command, "dir": FIXTURES, "timeout": fn_timeout})
        sqs = s.client()
        work, dlq = queue_url(sqs, "work"), queue_url(sqs, "work-dlq")

        def send(rid, body):
            sqs.send_message(QueueUrl=work, MessageBody=json.dumps(body),
                             MessageAttributes={"requestId": str_attr(rid)})

        send("before", {"action": "ok", "n": 1})
        pid_before = self.wait_item(s, "results", "before", "SUCCEEDED", seconds=20)["result"]["pid"]

        send("poison", {"action": action})
        # not lost: it is in the queue (visible or in flight) until it reaches the DLQ
        self.wait(lambda: queue_counts(sqs, dlq)[0] == 1, 30, lambda: "the %s message in the DLQ (work %r, dlq %r)"
                  % (action, queue_counts(sqs, work), queue_counts(sqs, dlq)))
        self.assertTrue(queue_empty(sqs, work), queue_counts(sqs, work))
        dead = drain(sqs, dlq, 1)
        self.assertEqual([json.loads(m["Body"]) for m in dead], [{"action": action}])
        failed = self.item(s, "results", "poison")
        self.assertEqual(failed["status"], "DEAD_LETTERED", failed)
        self.assertEqual(failed["attempts"], 2, failed)
        self.assertEqual(failed["lastError"]["errorType"], error_type, failed)

        send("after", {"action": "ok", "n": 2})
        after = self.wait_item(s, "results", "after", "SUCCEEDED", seconds=20)["result"]
        self.assertEqual(after["n"], 2)
        self.wait(lambda: queue_empty(sqs, work), 5, "an empty work queue")
        return s, pid_before, after["pid"]

    def test_crash_returns_message_and_runtime_is_replaced(self):
        s, before, after = self.run_fault("crash", "Runtime.ExitError")
        self.assertNotEqual(before, after, "the crashed runtime still answers?")
        self.assertIn("runtime_exited", s.read_log())

    def test_hang_past_timeout_returns_message_and_runtime_is_replaced(self):
        s, before, after = self.run_fault("hang", "Sandbox.Timedout", fn_timeout=1)
        self.assertNotEqual(before, after, "the hung runtime was not replaced")
        self.assertIn("function_timeout", s.read_log())

    def test_garbage_response_returns_message(self):
        """A /response that is not JSON fails the call (Runtime.InvalidResponse)."""
        self.run_fault("garbage", "Runtime.InvalidResponse", command=os.path.join(FIXTURES, "garbage_runtime"))

    def test_http_garbage_response_returns_message(self):
        """The http kind: a 200 whose body is not JSON is a function error too."""
        def handler(event, n):
            body = json.loads(event["Records"][0]["body"])
            if body["action"] == "garbage":
                return 200, b"<html>this is not JSON"
            return {"n": body["n"]}
        srv = self.fn_server(handler)
        s = self.daemon(RUNTIME_CONFIG.replace("kind: process", "kind: http").replace(
            "handler: sqs_handlers.handler", "handler: " + srv.url) % {
            "command": PY_BOOTSTRAP, "dir": FIXTURES, "timeout": 5})
        sqs = s.client()
        work, dlq = queue_url(sqs, "work"), queue_url(sqs, "work-dlq")
        sqs.send_message(QueueUrl=work, MessageBody=json.dumps({"action": "garbage"}),
                         MessageAttributes={"requestId": str_attr("poison")})
        self.wait(lambda: queue_counts(sqs, dlq)[0] == 1, 30, "the garbage message in the DLQ")
        self.assertEqual(self.item(s, "results", "poison")["status"], "DEAD_LETTERED")
        sqs.send_message(QueueUrl=work, MessageBody=json.dumps({"action": "ok", "n": 7}),
                         MessageAttributes={"requestId": str_attr("after")})
        self.assertEqual(self.wait_item(s, "results", "after", "SUCCEEDED")["result"], {"n": 7})
        self.assertEqual(sum(1 for r in srv.records() if json.loads(r["body"])["action"] == "garbage"), 2)

    def test_kill9_takes_the_runtimes_along(self):
        """Runtime processes die with a daemon killed by SIGKILL (no orphan
        keeps a stale runtime API connection), and the restarted daemon
        starts fresh ones that serve."""
        config = RUNTIME_CONFIG.replace("concurrency: 1", "concurrency: 3") % {
            "command": PY_BOOTSTRAP, "dir": FIXTURES, "timeout": 10}
        s = self.daemon(config)
        sqs = s.client()
        sqs.send_message(QueueUrl=queue_url(sqs, "work"), MessageBody=json.dumps({"action": "ok", "n": 1}),
                         MessageAttributes={"requestId": str_attr("first")})
        pid = self.wait_item(s, "results", "first", "SUCCEEDED", seconds=20)["result"]["pid"]
        self.assertTrue(_alive(pid))
        self.kill9(s)
        self.wait(lambda: not _alive(pid), 5, "the runtime %d to die with its daemon" % pid)
        s2 = self.daemon(config, data_dir=s.data_dir)
        sqs = s2.client()
        sqs.send_message(QueueUrl=queue_url(sqs, "work"), MessageBody=json.dumps({"action": "ok", "n": 2}),
                         MessageAttributes={"requestId": str_attr("second")})
        self.assertNotEqual(self.wait_item(s2, "results", "second", "SUCCEEDED", seconds=20)["result"]["pid"], pid)


def _alive(pid):
    """True while pid runs (a zombie waiting to be reaped is dead)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---- partial batch failure ---------------------------------------------------------------------------

PARTIAL_CONFIG = """
queues:
  - name: batch-dlq
  - name: batch
    attributes: { VisibilityTimeout: 3 }
    redrive: { dead_letter_queue: batch-dlq, max_receive_count: 2 }
tables:
  - name: results
    partition_key: requestId
functions:
  - name: picky
    kind: http
    handler: %(url)s
    timeout: 5
mappings:
  - function: picky
    queue: batch
    batch_size: 10
    batching_window: 1
    report_batch_item_failures: true
    on_success: table:results
    on_failure: table:results
"""


class PartialBatchFailure(FunctionsTestCase):
    def send_ten(self, sqs, url, failing):
        """Ten messages in one SendMessageBatch; request ids r0..r9."""
        entries = [{"Id": str(i), "MessageBody": json.dumps({"i": i, "fail": i in failing}),
                    "MessageAttributes": {"requestId": str_attr("r%d" % i)}} for i in range(10)]
        r = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(len(r["Successful"]), 10)
        return {int(e["Id"]): e["MessageId"] for e in r["Successful"]}

    def test_only_failed_records_come_back(self):
        failing = {1, 4, 8}

        def handler(event, n):
            recs = event["Records"]
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in recs
                                          if json.loads(r["body"])["fail"]],
                    "batchItemResults": {r["messageId"]: {"i": json.loads(r["body"])["i"]} for r in recs}}
        srv = self.fn_server(handler)
        s = self.daemon(PARTIAL_CONFIG % {"url": srv.url})
        sqs = s.client()
        url, dlq = queue_url(sqs, "batch"), queue_url(sqs, "batch-dlq")
        ids = self.send_ten(sqs, url, failing)

        # after the first batch only the three failed records are left, in flight
        self.wait(lambda: len(srv.calls) >= 1, 10, "the first invocation")
        self.assertEqual(len(srv.calls[0].records), 10, "the ten messages were not one batch")
        self.wait(lambda: sum(queue_counts(sqs, url)) == 3, 10,
                  lambda: "three messages left in the queue (%r)" % (queue_counts(sqs, url),))
        # they come back after their visibility timeout, are failed again, and reach the DLQ
        self.wait(lambda: queue_counts(sqs, dlq)[0] == 3, 20, "the failed records in the DLQ")
        self.assertTrue(queue_empty(sqs, url))
        dead = drain(sqs, dlq, 3)
        self.assertEqual(sorted(json.loads(m["Body"])["i"] for m in dead), sorted(failing))
        self.assertEqual(sorted(m["MessageId"] for m in dead), sorted(ids[i] for i in failing))

        # the function saw each succeeded record once, each failed record twice
        seen = [r["messageId"] for r in srv.records()]
        for i, mid in ids.items():
            self.assertEqual(seen.count(mid), 2 if i in failing else 1, (i, seen))
        for c in srv.calls[1:]:
            self.assertTrue(all(r["messageId"] in {ids[i] for i in failing} for r in c.records))
        for i in range(10):
            item = self.item(s, "results", "r%d" % i)
            if i in failing:
                self.assertEqual(item["status"], "DEAD_LETTERED", item)
                self.assertEqual(item["lastError"]["errorType"], "BatchItemFailure", item)
            else:
                self.assertEqual(item["status"], "SUCCEEDED", item)
                self.assertEqual(item["result"], {"i": i}, item)

    def test_unknown_item_identifier_fails_the_whole_batch(self):
        """A batchItemFailures entry naming no record of the batch is an
        invalid response: nothing of the batch is deleted (never a silent
        delete); the next time round the handler answers properly."""
        def handler(event, n):
            if n == 1:
                return {"batchItemFailures": [{"itemIdentifier": "not-a-record"}]}
            return {"batchItemFailures": []}
        srv = self.fn_server(handler)
        s = self.daemon(PARTIAL_CONFIG % {"url": srv.url})
        sqs = s.client()
        url = queue_url(sqs, "batch")
        ids = self.send_ten(sqs, url, set())
        self.wait(lambda: len(srv.calls) >= 1, 10, "the first invocation")
        self.assertEqual(sum(queue_counts(sqs, url)), 10, "records of an invalid response were deleted")
        self.wait(lambda: queue_empty(sqs, url), 20, "the retried batch to succeed")
        seen = [r["messageId"] for r in srv.records()]
        self.assertEqual(sorted(set(seen)), sorted(ids.values()))
        self.assertEqual(len(seen), 20, "each record once in the bad batch, once more after it")
        for i in range(10):
            self.assertEqual(self.item(s, "results", "r%d" % i)["attempts"], 2)


# ---- kill -9 mid-batch -------------------------------------------------------------------------------

CRASH_CONFIG = """
queues:
  - name: work
    attributes: { VisibilityTimeout: 2 }
tables:
  - name: results
    partition_key: requestId
functions:
  - name: slow
    kind: http
    handler: %(url)s
    timeout: 10
    concurrency: 4
mappings:
  - function: slow
    queue: work
    batch_size: 5
    on_success: table:results
    on_failure: table:results
"""

N = 200


class KillDuringBatches(FunctionsTestCase):
    def test_kill9_mid_batch_loses_nothing_and_writes_at_most_once(self):
        counter = {"n": 0}
        lock = threading.Lock()

        def handler(event, n):
            time.sleep(0.05)
            out = {}
            for r in event["Records"]:
                with lock:
                    counter["n"] += 1
                    k = counter["n"]
                out[r["messageId"]] = {"rid": r["messageAttributes"]["requestId"]["stringValue"],
                                       "body": json.loads(r["body"]), "invocation": k}
            return {"batchItemResults": out}
        srv = self.fn_server(handler)
        config = CRASH_CONFIG % {"url": srv.url}
        s = self.daemon(config, fsync="always")
        sqs = s.client()
        url = queue_url(sqs, "work")
        rids = ["req-%03d" % i for i in range(N)]
        for k in range(0, N, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"v": rid}), "MessageAttributes": {"requestId": str_attr(rid)}}
                for i, rid in enumerate(rids[k:k + 10])])
        self.wait(lambda: srv.number >= 16 and srv.inflight > 0, 20, "batches in flight")
        self.kill9(s)
        done_before = len({r["messageId"] for c in list(srv.calls) for r in c.records})
        self.assertLess(done_before, N, "everything was done before the kill: nothing was tested")

        s2 = self.daemon(config, data_dir=s.data_dir, fsync="always")

        def all_succeeded():
            items = table_scan(s2.endpoint, "results")
            return len(items) == N and all(it["status"] == "SUCCEEDED" for it in items) and items
        items = self.wait(all_succeeded, 40, lambda: "all %d requests SUCCEEDED (have %d)" % (
            N, len([it for it in table_scan(s2.endpoint, "results") if it["status"] == "SUCCEEDED"])))
        self.assertEqual(sorted(it["requestId"] for it in items), rids)
        for it in items:
            self.assertEqual(it["result"]["rid"], it["requestId"], it)
            self.assertEqual(it["result"]["body"], {"v": it["requestId"]}, it)
        self.wait(lambda: queue_empty(s2.client(), url), 10, "an empty queue")
        print("  %d of %d records handled before the kill; %d invocations of records in all"
              % (done_before, N, counter["n"]), file=sys.stderr)

        # at most once: a completed request id processed again does not replace its result
        sqs = s2.client()
        old = dict(self.item(s2, "results", "req-007"))
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "again", "MessageBody": json.dumps({"v": "different"}),
             "MessageAttributes": {"requestId": str_attr("req-007")}},
            {"Id": "fresh", "MessageBody": json.dumps({"v": "fresh"}),
             "MessageAttributes": {"requestId": str_attr("req-new")}}])
        fresh = self.wait_item(s2, "results", "req-new", "SUCCEEDED")
        self.assertEqual(fresh["result"]["body"], {"v": "fresh"})
        self.wait(lambda: queue_empty(sqs, url), 10, "an empty queue")
        again = [r for r in srv.records() if json.loads(r["body"]) == {"v": "different"}]
        self.assertEqual(len(again), 1, "the re-sent request was not handled")
        self.assertEqual(self.item(s2, "results", "req-007"), old, "a SUCCEEDED result was replaced")


if __name__ == "__main__":
    unittest.main()


POOL_CONFIG = """
queues:
  - name: work
    attributes: { VisibilityTimeout: 1 }
tables:
  - name: results
    partition_key: requestId
functions:
  - name: worker
    kind: process
    command: %(command)s
    dir: %(dir)s
    handler: %(handler)s
    timeout: 5
    concurrency: 2
mappings:
  - function: worker
    queue: work
    batch_size: 1
    report_batch_item_failures: true
    on_success: table:results
"""


def runtime_pids(daemon_pid):
    """The daemon's child processes (its runtimes)."""
    pids = []
    try:
        for tid in os.listdir("/proc/%d/task" % daemon_pid):
            with open("/proc/%d/task/%s/children" % (daemon_pid, tid)) as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


class RuntimesKilledUnderLoad(FunctionsTestCase):
    """Runtime processes of a warm pool of 2 are killed with SIGKILL again and
    again while a stream of requests goes through them: every request still
    gets its result (the killed invocation's message comes back after its
    visibility timeout), and the pool is refilled each time."""

    def check(self, command, directory, handler, n):
        s = self.daemon(POOL_CONFIG % {"command": command, "dir": directory, "handler": handler})
        sqs = s.client()
        url = queue_url(sqs, "work")
        rids = ["r%04d" % i for i in range(n)]

        def send():
            c = s.client()
            for k in range(0, n, 10):
                c.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "MessageBody": json.dumps({"number": int(rid[1:]), "factor": 3}),
                     "MessageAttributes": {"requestId": str_attr(rid)}} for i, rid in enumerate(rids[k:k + 10])])
        sender = threading.Thread(target=send)
        sender.start()

        def stored():
            return http_get(s.endpoint, "/_sluice/tables/results?limit=1")[1]["ItemCount"]
        kills, done_at_kills = 0, []
        deadline = time.time() + timeout(60)
        while time.time() < deadline and stored() < n:
            pids = runtime_pids(s.proc.pid) if kills < 6 else []
            for p in pids:
                try:
                    os.kill(p, 9)
                except OSError:
                    pass
            if pids:
                kills += 1
                done_at_kills.append(stored())
            time.sleep(0.1)
        sender.join()
        self.assertTrue(kills >= 2 and done_at_kills[1] < n, "the work was over before two kills: %r" % done_at_kills)
        items = table_scan(s.endpoint, "results")
        self.assertEqual(sorted(it["requestId"] for it in items if it["status"] == "SUCCEEDED"), rids)
        for it in items:
            self.assertEqual(it["result"]["result"], int(it["requestId"][1:]) * 3.0, it)
        self.assertGreaterEqual(s.read_log().count("runtime_exited"), kills)
        self.wait(lambda: queue_empty(sqs, url), 10, "an empty queue")
        print("  %d kills at %r of %d results" % (kills, done_at_kills, n), file=sys.stderr)

    def test_python_runtimes(self):
        self.check(PY_BOOTSTRAP, PY_WORKERS, "calculator.multiplication", 400)

    def test_compiled_runtimes(self):
        self.check(C_BOOTSTRAP, BUILD, "%s:multiplication" % WORKERS_SO, 2000)
