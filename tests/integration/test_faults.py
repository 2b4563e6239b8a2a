"""Storage faults injected into the real daemon (SLUICE_FAULTS; docs/RELIABILITY.md#storage-faults).

Each case starts the daemon with one rule set, runs a client against it, and checks what the
client was told: a request is acknowledged, or answered with its protocol's ServiceUnavailable
(503), or — only once the daemon has begun to stop — refused a connection. A failed log write
or sync stops the daemon with exit status 70. Then the daemon is started again on the same
directory without faults: every acknowledged send is there, byte for byte, no acknowledged
delete comes back, and it serves again. The sweeps move N (which call fails) across the log
append, segment rotation and checkpoint (snapshot and compaction) paths.
"""
import hashlib
import os
import shutil
import signal
import tempfile
import time
import unittest

from botocore.exceptions import ClientError

from sluice_harness import PROTOCOL, SANITIZER_MARKS, Sluice

BIG = 180 * 1024  # bodies that make a 1 MiB segment rotate every few sends


def body_for(i, size):
    head = "m%05d:" % i
    pad = hashlib.sha256(head.encode()).hexdigest()
    return (head + pad * (size // len(pad) + 1))[:max(size, len(head))]


def index_of(body):
    return int(body[1:6])


class Run:
    """One daemon under a rule set and what its client saw."""

    def __init__(self, case, rules, config_text):
        self.case = case
        self.dir = tempfile.mkdtemp(prefix="sluice-faults-")
        self.rules = os.path.join(self.dir, "rules")
        self.config = os.path.join(self.dir, "sluice.yaml")
        with open(self.rules, "w") as f:
            f.write(rules + "\n")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.data = os.path.join(self.dir, "data")
        self.sent = {}         # index -> body, acknowledged
        self.deleted = set()   # indexes whose delete was acknowledged
        self.maybe_deleted = set()  # deletes answered 503 or cut off: their outcome is unknown
        self.errors = []       # (code, status) of refused requests
        self.refused = 0       # connection errors
        self.first_503 = None  # request number of the first ServiceUnavailable
        self.calls = 0
        self.daemon = Sluice(data_dir=self.data, config=self.config, env={"SLUICE_FAULTS": self.rules})
        case.addCleanup(shutil.rmtree, self.dir, True)
        case.addCleanup(self.daemon.cleanup)  # its log file
        case.addCleanup(self.daemon.stop, signal.SIGKILL)  # a failed check leaves no daemon behind

    def start(self):
        """Starts the faulty daemon; False (checked) when the fault stopped it from starting."""
        try:
            self.daemon.start()
            return True
        except RuntimeError:
            rc = self.daemon.stop()
            log = self.daemon.read_log()
            self.case.assertEqual(rc, 1, log[-3000:])
            self.case.assertIn("event=store_recovery_failed", log)
            self.case.assertFalse(any(m in log for m in SANITIZER_MARKS), log[-3000:])
            return False

    def call(self, fn, **kw):
        """The outcome of one request: its answer, or None when refused (recorded)."""
        self.calls += 1
        try:
            return fn(**kw)
        except ClientError as e:
            err = e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
            self.errors.append(err)
            if self.first_503 is None:
                self.first_503 = self.calls
            return None
        except Exception as e:  # connection refused or reset: the daemon is going
            self.case.assertIsNotNone(self.first_503 or self.daemon.proc.poll(),
                                      "connection failed before any 503 while the daemon ran: %r" % e)
            self.refused += 1
            return None

    def workload(self, n, size, base=0):
        sqs = self.daemon.client(read_timeout=15)
        url = self.call(sqs.create_queue, QueueName="faults")
        url = url and url["QueueUrl"]
        for i in range(n):
            if url is None or self.daemon.proc.poll() is not None:
                break
            if i % 4 == 3:
                first = base + 1000 + 3 * i
                batch = [{"Id": str(k), "MessageBody": body_for(first + k, size)} for k in range(3)]
                r = self.call(sqs.send_message_batch, QueueUrl=url, Entries=batch)
                for ok in (r or {}).get("Successful", []):
                    self.sent[first + int(ok["Id"])] = batch[int(ok["Id"])]["MessageBody"]
                self.case.assertFalse((r or {}).get("Failed"), r)
            elif self.call(sqs.send_message, QueueUrl=url, MessageBody=body_for(base + i, size)):
                self.sent[base + i] = body_for(base + i, size)
            if i % 5 == 4:
                r = self.call(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=1)
                for m in (r or {}).get("Messages", []):
                    done = self.call(sqs.delete_message, QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    (self.deleted if done is not None else self.maybe_deleted).add(index_of(m["Body"]))
        return url

    def finish(self, expect_exit):
        """Waits for the daemon (exit 70 expected or not) and checks what the client saw."""
        if expect_exit:
            try:
                rc = self.daemon.proc.wait(20)
            except Exception:
                rc = None
            log = self.daemon.read_log()
            self.case.assertEqual(rc, 70, "the daemon did not stop on the fault; log:\n" + log[-3000:])
            self.case.assertIn("event=storage_failed", log)
            self.case.assertIsNotNone(self.first_503, "no request was answered 503 before the exit")
        rc = self.daemon.stop()
        log = self.daemon.read_log()
        self.case.assertFalse(any(m in log for m in SANITIZER_MARKS), log[-3000:])
        self.case.assertEqual(set(self.errors) - {("ServiceUnavailable", 503)}, set(), self.errors)
        if not expect_exit:
            self.case.assertEqual(rc, 0, log[-3000:])
        return log

    def verify_after_restart(self, url):
        """Every acknowledged send is there exactly as sent; deleted ones stay deleted; service is back."""
        s = Sluice(data_dir=self.data, config=self.config).start()
        try:
            sqs = s.client(read_timeout=15)
            url = sqs.create_queue(QueueName="faults")["QueueUrl"]
            got = {}
            for _ in range(500):  # received before the fault, not deleted: visible again within 1 s
                ms = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                         WaitTimeSeconds=2).get("Messages", [])
                if not ms:
                    break
                for m in ms:
                    got.setdefault(index_of(m["Body"]), m["Body"])
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            for i, body in self.sent.items():
                if i in self.deleted or i in self.maybe_deleted:
                    continue
                self.case.assertIn(i, got, "acknowledged message %d lost" % i)
                self.case.assertEqual(got[i], body, "message %d corrupt" % i)
            for i, body in got.items():
                self.case.assertEqual(body, body_for(i, len(body)), "message %d is not what was sent" % i)
            self.case.assertFalse(set(got) & self.deleted, "acknowledged deletes came back")
            sqs.send_message(QueueUrl=url, MessageBody="after")
            ms = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
            self.case.assertEqual(ms[0]["Body"], "after")
        finally:
            s.stop_checked()


def config(segment_mb=64, compact_mb=256):
    return "storage:\n  segment_mb: %d\n  compact_mb: %d\n" % (segment_mb, compact_mb)


class LogFaults(unittest.TestCase):
    """A failed append, sync or rotation: 503s, exit 70, nothing acknowledged lost."""

    def sweep(self, rule, ns, size=200, segment_mb=64, ops=40, expect_exit=True):
        for n in ns:
            rules = rule.format(n=n, next=n + 1)
            with self.subTest(rules=rules):
                run = Run(self, rules, config(segment_mb=segment_mb))
                if not run.start():
                    run.verify_after_restart(None)
                    continue
                url = run.workload(ops, size)
                run.finish(expect_exit=expect_exit)
                run.verify_after_restart(url)

    def test_fdatasync_of_the_log_fails(self):
        self.sweep("fdatasync wal {n} EIO", [1, 2, 3, 7, 15])

    def test_write_of_the_log_fails(self):
        self.sweep("write wal {n} EIO", [2, 3, 6, 13])

    def test_disk_full_on_append(self):
        self.sweep("write wal {n} ENOSPC", [4, 9])

    def test_torn_write(self):
        # half a batch reaches the file, then the disk fails: recovery cuts the torn tail
        self.sweep("write wal {n} short 1\nwrite wal {next} EIO", [3, 8])

    def test_creating_the_next_segment_fails(self):
        # open 1 is the first segment's; then every rotation opens one
        self.sweep("open wal {n} ENOSPC", [1, 2, 3], size=BIG, segment_mb=1, ops=24)

    def test_syncing_at_rotation_fails(self):
        # with 180 KiB bodies a 1 MiB segment rotates after about six sends; a sync there fails
        self.sweep("fdatasync wal {n} EIO", [5, 6, 7, 8], size=BIG, segment_mb=1, ops=24)

    def test_cutting_the_zeros_fails(self):
        # zeros ahead left in a rotated segment: a warning, and replay reads past them
        self.sweep("ftruncate wal {n} EIO", [1, 2], size=BIG, segment_mb=1, ops=24, expect_exit=False)

    def test_directory_sync_fails(self):
        self.sweep("fsync dir {n} EIO", [1, 2, 3], size=BIG, segment_mb=1, ops=24)

    def test_a_short_write_alone_loses_nothing(self):
        run = Run(self, "write wal 3 short 1\nwrite wal 6 short 2", config())
        self.assertTrue(run.start())
        url = run.workload(30, 200)
        run.finish(expect_exit=False)
        self.assertEqual(run.errors, [])
        run.verify_after_restart(url)


class CheckpointFaults(unittest.TestCase):
    """A failed snapshot or compaction keeps the log, the daemon serves on, and once the fault
    clears the next checkpoint succeeds."""

    def wait_log(self, run, text, since, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = run.daemon.read_log()
            if log.count(text) > since:
                return log
            time.sleep(0.1)
        self.fail("no %r in the log:\n%s" % (text, run.daemon.read_log()[-3000:]))

    def sweep(self, rule, ns):
        for n in ns:
            with self.subTest(rule=rule % n):
                run = Run(self, rule % n, config(segment_mb=1, compact_mb=1))
                self.assertTrue(run.start())
                url = run.workload(12, BIG)
                self.wait_log(run, "event=store_checkpoint_failed", 0)
                self.assertEqual(run.errors, [])
                with open(run.rules, "w") as f:
                    f.write("# cleared\n")
                run.daemon.proc.send_signal(signal.SIGUSR2)
                before = run.daemon.read_log().count("event=store_checkpoint ")
                run.workload(12, BIG, base=5000)  # more log, so another checkpoint is due
                self.wait_log(run, "event=store_checkpoint ", before)
                run.finish(expect_exit=False)
                self.assertEqual(run.errors, [])
                run.verify_after_restart(url)

    def test_snapshot_file_cannot_be_created(self):
        self.sweep("open snap %d ENOSPC", [1])

    def test_snapshot_write_fails(self):
        self.sweep("write snap %d EIO", [1, 2])

    def test_snapshot_sync_fails(self):
        self.sweep("fsync snap %d EIO", [1])

    def test_snapshot_install_fails(self):
        self.sweep("rename snap %d EIO", [1])


class ClockRule(unittest.TestCase):
    """The clock rule moves the daemon's time: a visibility timeout and a retention period
    pass without waiting for them."""

    def test_time_moves(self):
        run = Run(self, "# no faults yet", config())
        self.assertTrue(run.start())
        sqs = run.daemon.client()
        url = sqs.create_queue(QueueName="clock", Attributes={"MessageRetentionPeriod": "3600"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="kept")
        m = sqs.receive_message(QueueUrl=url, VisibilityTimeout=600, AttributeNames=["All"])["Messages"][0]
        self.assertEqual(sqs.receive_message(QueueUrl=url).get("Messages", []), [])
        with open(run.rules, "w") as f:
            f.write("clock +601000\n")
        run.daemon.proc.send_signal(signal.SIGUSR2)
        deadline, back = time.time() + 10, []
        while not back and time.time() < deadline:
            back = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
        self.assertEqual([b["MessageId"] for b in back], [m["MessageId"]])
        self.assertEqual(back[0]["Attributes"]["ApproximateReceiveCount"], "2")
        with open(run.rules, "w") as f:
            f.write("clock +3700000\n")  # past the retention period
        run.daemon.proc.send_signal(signal.SIGUSR2)
        deadline, attrs = time.time() + 10, None
        while time.time() < deadline:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            if attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0":
                break
            time.sleep(0.2)
        self.assertEqual((attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]),
                         ("0", "0"))
        run.finish(expect_exit=False)

    def test_bad_rules_refuse_to_start(self):
        run = Run(self, "fdatasync wal 0 EIO", config())
        with self.assertRaises(RuntimeError):
            run.daemon.start()
        self.assertEqual(run.daemon.stop(), 1)
        self.assertIn("event=faults_not_loaded", run.daemon.read_log())


if __name__ == "__main__":
    unittest.main()
