#!/usr/bin/env python3
"""Sluice crash loop: kill -9 under load, restart, repeat; then check the history.

Each cycle runs concurrent clients for a random short time — SendMessage and
SendMessageBatch to a standard and a FIFO queue (several message groups,
explicit deduplication ids), SNS Publish/PublishBatch to a topic that a
queue subscribes to, receivers that receive and delete (one by one and in
batches) — then kills the daemon with SIGKILL while requests are in flight
and restarts it on the same data directory. With --damage, the newest log
segment's tail is also truncated or has a byte flipped before the restart.
With --power-loss, the data directory is rewritten before the restart as a
power loss at the instant of the kill could have left it: every file cut to
what its last fsync covered, names never made durable gone (powerloss.py,
from the daemon's sync trace, SLUICE_SYNC_TRACE).
At the end every queue is drained and the history is checked (checker.py);
docs/RELIABILITY.md describes the invariants and the figures measured.

  tests/crash/crashloop.py --cycles 20 --fsync always --seed 1
  tests/crash/crashloop.py --cycles 5 --damage --json report.json
  tests/crash/crashloop.py --cycles 20 --power-loss --fsync off
  make crashloop CYCLES=200

Exit status 0 when the invariants of the fsync policy hold: with `always`
nothing acknowledged is lost, no acknowledged delete comes back, FIFO order
and deduplication hold, after a simulated power loss too; with `interval`
and `off` loss is reported but not a failure. With --power-loss those two
report what the loss cut (lost_to_power, resurrected_by_power,
copies_by_power) and any loss it does not explain fails the run. The daemon
listens on 127.0.0.1 only; every loop is bounded.
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

import botocore

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from checker import Checker  # noqa: E402
from sluice_harness import PROTOCOL, SLUICE_BIN, Sluice, check_exit  # noqa: E402
import powerloss  # noqa: E402
import walfile  # noqa: E402
import workload as wl  # noqa: E402

JOIN_SECONDS = 15       # a load thread still running this long after the kill is a bug of the loop
DRAIN_SECONDS = 60
CLIENT_CFG = {"connect_timeout": 2, "read_timeout": 10}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("SLUICE_BIN", SLUICE_BIN), help="the sluice binary")
    p.add_argument("--cycles", type=int, default=20, help="kill/restart cycles (default 20)")
    p.add_argument("--fsync", choices=("always", "interval", "off"), default="always")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock, printed)")
    p.add_argument("--damage", action="store_true",
                   help="damage the newest log segment's tail before each restart")
    p.add_argument("--damage-rate", type=float, default=1.0, help="with --damage: share of cycles damaged")
    p.add_argument("--power-loss", action="store_true",
                   help="after each kill, leave the data directory as a power loss would (only what was fsynced)")
    p.add_argument("--duration-per-cycle", default="0.3,2", metavar="MIN,MAX",
                   help="seconds of load before the kill, drawn from [MIN, MAX] (default 0.3,2)")
    p.add_argument("--segment-mb", type=int, default=1, help="storage.segment_mb (default 1: rotations happen)")
    p.add_argument("--compact-mb", type=int, default=4, help="storage.compact_mb (default 4: snapshots happen)")
    p.add_argument("--fsync-interval-ms", type=int, default=None,
                   help="storage.fsync_interval_ms (default: the daemon's, 1000), for --fsync interval")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--history", metavar="FILE", help="write the whole history as JSON")
    p.add_argument("--keep", action="store_true", help="keep the data directory and daemon log")
    p.add_argument("-v", "--verbose", action="store_true", help="a line per cycle on stderr")
    a = p.parse_args(argv)
    if a.damage and a.power_loss:
        p.error("--damage and --power-loss are separate experiments")
    lo, _, hi = a.duration_per_cycle.partition(",")
    a.durations = (float(lo), float(hi or lo))
    a.seed = a.seed if a.seed is not None else int(time.time() * 1000) % 1000000
    return a


class Loop:
    def __init__(self, a):
        self.a = a
        self.rnd = random.Random(a.seed)
        self.dir = tempfile.mkdtemp(prefix="sluice-crashloop-")
        self.history = wl.History()
        self.damages = []           # (after cycle, walfile.Damage)
        self.power_cuts = []        # (after cycle, powerloss.Cut)
        self.kill_t = {}            # cycle -> time.monotonic() once its kill is done
        self.acked_cut = set()      # tokens whose acknowledged send a power loss cut
        self.cycle_end_lsn = {}
        self.failures = []          # things that stop the loop or break a damage cycle's promise
        self.torn_tails = 0         # torn tails cut after a plain kill -9 (no damage)
        config = os.path.join(self.dir, "sluice.yaml")
        with open(config, "w") as f:
            f.write("storage:\n  segment_mb: %d\n  compact_mb: %d\n" % (a.segment_mb, a.compact_mb))
            if a.fsync_interval_ms is not None:
                f.write("  fsync_interval_ms: %d\n" % a.fsync_interval_ms)
        self.trace = os.path.join(self.dir, "sync-trace.txt")
        if a.power_loss:  # the daemon (a child) inherits it; the loop is a process of its own
            os.environ["SLUICE_SYNC_TRACE"] = self.trace
        self.daemon = Sluice(data_dir=os.path.join(self.dir, "data"), args=["--fsync", a.fsync], config=config,
                             binary=a.bin, log_path=os.path.join(self.dir, "sluice.log"))

    def say(self, fmt, *args):
        if self.a.verbose:
            print(fmt % args, file=sys.stderr, flush=True)

    def setup(self):
        sqs, sns = self.daemon.client(**CLIENT_CFG), self.daemon.client("sns", **CLIENT_CFG)
        std = sqs.create_queue(QueueName="crash-std")["QueueUrl"]
        fifo = sqs.create_queue(QueueName="crash-fifo.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        fan = sqs.create_queue(QueueName="crash-fanout")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=fan, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic = sns.create_topic(Name="crash-topic")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        self.target = wl.Target(std, fifo, fan, topic)
        mk = lambda svc="sqs": lambda: self.daemon.client(svc, **CLIENT_CFG)  # noqa: E731
        args = lambda name, svc="sqs": (name, mk(svc), self.history, self.target, self.a.seed)  # noqa: E731
        self.workers = [wl.StdSender(*args("ss0")), wl.StdSender(*args("ss1")),
                        wl.FifoSender(*args("fs0")), wl.FifoSender(*args("fs1")),
                        wl.Publisher(*args("pb0", "sns")),
                        wl.Receiver(*args("rc0")), wl.Receiver(*args("rc1"))]

    def cycle(self, c):
        stop = threading.Event()
        load = self.rnd.uniform(*self.a.durations)
        n0 = len(self.history.ops)
        threads = wl.run_cycle(self.workers, c, stop, time.monotonic() + load + JOIN_SECONDS)
        time.sleep(load)
        self.daemon.kill9()
        self.kill_t[c] = time.monotonic()  # the daemon is gone: it answers nothing after this
        stop.set()
        for t in threads:
            t.join(JOIN_SECONDS)
        if any(t.is_alive() for t in threads):
            raise RuntimeError("a load thread did not stop after the kill")
        note = self.before_restart(c)
        log_from = len(self.daemon.read_log())
        self.daemon.start(timeout=30)
        self.after_restart(c, self.daemon.read_log()[log_from:])
        self.say("cycle %d/%d: %.2fs of load, %d operations%s", c + 1, self.a.cycles, load,
                 len(self.history.ops) - n0, note)

    def before_restart(self, c):
        self.pending_damage = None
        if not self.a.damage and not self.a.power_loss:
            return ""
        seg = walfile.newest_segment(self.daemon.data_dir)
        if seg and seg.records:
            self.cycle_end_lsn[c] = seg.last_lsn()
        if self.a.power_loss:
            return self.power_loss(c)
        if self.rnd.random() >= self.a.damage_rate:
            return ""
        d = walfile.damage_tail(self.daemon.data_dir, self.rnd)
        if d is None:
            return "; newest segment holds no records, not damaged"
        self.pending_damage = d
        self.damages.append((c, d))
        return "; damage: %s at %d, recovery must cut at %d (%d tokens at risk)" % (d.kind, d.pos, d.cut_at,
                                                                                     len(d.tokens))

    def power_loss(self, c):
        cut = powerloss.apply(self.trace, self.daemon.data_dir)
        os.unlink(self.trace)  # what survived is the disk now; the restart traces anew
        self.power_cuts.append((c, cut))
        d = cut.as_dict()
        return "; power loss: %d files cut, %d removed, %d log records (%d bytes, %d tokens) gone" % (
            len(d["truncated"]), len(d["removed"]), d["records_cut"], d["record_bytes_cut"], d["tokens_cut"])

    def after_restart(self, c, log):
        d = self.pending_damage
        if d is None:
            self.torn_tails += log.count("event=store_torn_tail")
            return
        why = d.check_log(log)
        if why:
            self.failures.append({"cycle": c, "what": "damage not reported as required", "why": why})

    def drain(self):
        """Receives and deletes until every queue is empty, or nothing has come
        for DRAIN_SECONDS; returns what is left per queue."""
        w = self.workers[-1]
        w.cycle = self.a.cycles
        deadline = time.monotonic() + DRAIN_SECONDS
        left = self.left()
        while any(left.values()) and time.monotonic() < deadline:
            got_any = False
            for q in ("std", "fifo", "sns"):
                got = w.receive(q, 10, 30, 0)
                got_any |= bool(got)
                w.delete(q, got or [], batch=True)
            if got_any:  # a long loop leaves a long backlog: the bound is on a drain that stalls
                deadline = time.monotonic() + DRAIN_SECONDS
            else:
                left = self.left()
                if any(left.values()):
                    time.sleep(0.5)
        return left

    def left(self):
        sqs, out = self.workers[-1].client, {}
        for q, url in self.target.urls.items():
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            out[q] = sum(int(a[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                              "ApproximateNumberOfMessagesDelayed"))
        return out

    def run(self):
        t0 = time.monotonic()
        self.daemon.start(timeout=30)
        self.setup()
        if self.a.power_loss:  # a clean stop syncs under every policy: the queues and topic are on the disk
            self.stop_daemon()
            self.daemon.start(timeout=30)
        done = 0
        try:
            for c in range(self.a.cycles):
                self.cycle(c)
                done += 1
        except RuntimeError as e:  # the daemon did not come back, or the loop is stuck
            self.failures.append({"cycle": done, "what": "restart failed", "why": str(e)[-4000:]})
        left = None
        if self.running():
            try:
                left = self.drain()
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                self.failures.append({"what": "drain failed", "why": repr(e)})
        if left and any(left.values()):
            self.failures.append({"what": "queues not empty after the drain", "left": left})
        self.stop_daemon()
        return self.report(done, left, time.monotonic() - t0)

    def running(self):
        return self.daemon.proc is not None and self.daemon.proc.poll() is None

    def stop_daemon(self):
        if not self.running():
            return  # its exit is already a failure of the loop
        rc = self.daemon.stop()
        try:
            check_exit(rc, self.daemon.read_log())
        except AssertionError as e:
            self.failures.append({"what": "daemon stop", "why": str(e)[-4000:]})

    def report(self, done, left, elapsed):
        # under always a power loss must cost nothing acknowledged: no cut is an excuse there
        excuses = self.power_cuts if self.a.fsync != "always" else ()
        ck = Checker(self.history.ops, self.damages, self.cycle_end_lsn, excuses).check()
        # with power loss every policy is held to always's invariants once the cuts' losses are set apart;
        # without the drain, what is still queued was never delivered: not a verdict on loss
        policy = "always" if self.a.power_loss else self.a.fsync
        broken = [k for k in ck.broken(policy) if left is not None or k != "lost"]
        broken += ["loop"] if self.failures else []
        keys = ("sent", "acknowledged", "acknowledged_std", "acknowledged_fifo", "acknowledged_sns", "unknown",
                "fail", "unknown_present", "delivered", "deliveries", "duplicated_deliveries", "lost",
                "lost_to_damage", "lost_to_power", "resurrected", "resurrected_by_damage", "resurrected_by_power",
                "copies", "copies_by_power", "dedup",
                "dedup_resends_across_restart", "fifo_order", "unexpected", "corrupt", "failed_delivered")
        power_losses = [dict(p.as_dict(), after_cycle=c, **self.acknowledged_cut(c, p)) for c, p in self.power_cuts]
        return {
            "ok": not broken, "broken": broken, "fsync": self.a.fsync,
            "fsync_interval_ms": self.a.fsync_interval_ms, "seed": self.a.seed,
            "cycles": done, "cycles_asked": self.a.cycles, "damage": self.a.damage,
            "power_loss": self.a.power_loss, "protocol": PROTOCOL,
            "elapsed_s": round(elapsed, 1), "counts": {k: ck.counts[k] for k in keys},
            "damages": [dict(d.as_dict(), after_cycle=c) for c, d in self.damages],
            "power_losses": power_losses, "acknowledged_cut": len(self.acked_cut),
            "torn_tails_after_plain_kill": self.torn_tails, "left_after_drain": left,
            "checkpoints": self.daemon.read_log().count("event=store_checkpoint "),
            "failures": self.failures, "examples": {k: v for k, v in ck.examples.items() if v},
            "data_dir": self.dir if self.a.keep or broken else None,
        }

    def acknowledged_cut(self, c, cut):
        """The sends acknowledged in cycle c whose records the power loss cut, and
        how long before the kill the oldest of them was acknowledged."""
        t1 = {}
        for op in self.history.ops:
            if op["op"] == "send" and op["out"] == "ok" and op["cycle"] == c and op["tok"] in cut.tokens:
                t1[op["tok"]] = min(op["t1"], t1.get(op["tok"], op["t1"]))
        self.acked_cut |= set(t1)
        age = max(0, round((self.kill_t[c] - min(t1.values())) * 1000)) if t1 else None
        return {"acknowledged_cut": len(t1), "oldest_acknowledged_cut_ms": age}

    def cleanup(self, keep):
        self.daemon.stop()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def summary(r):
    c = r["counts"]
    dmg = " damaged=%d" % len(r["damages"]) if r["damage"] else ""
    if r["power_loss"]:
        pl = r["power_losses"]
        ages = [p["oldest_acknowledged_cut_ms"] for p in pl if p["acknowledged_cut"]]
        dmg = " power-loss (%d log records cut, %d acknowledged sends among them, the oldest %s)" % (
            sum(p["records_cut"] for p in pl), r["acknowledged_cut"],
            "%d ms before its kill" % max(ages) if ages else "-")
    also = lambda k, what: " (+%d %s)" % (c[k], what) if c[k] else ""  # noqa: E731
    return ("crashloop fsync=%s cycles=%d%s seed=%d (%s, %.0fs): sent=%d acknowledged=%d lost=%d%s%s "
            "duplicated=%d copies=%d%s resurrected=%d%s%s unexpected=%d corrupt=%d fifo_order=%d dedup=%d "
            "(%d re-sends across restarts) -> %s" % (
                r["fsync"], r["cycles"], dmg, r["seed"], r["protocol"], r["elapsed_s"], c["sent"],
                c["acknowledged"], c["lost"], " (+%d to damage)" % c["lost_to_damage"] if r["damage"] else "",
                also("lost_to_power", "to power loss"), c["duplicated_deliveries"], c["copies"],
                also("copies_by_power", "by power loss"), c["resurrected"],
                " (+%d by damage)" % c["resurrected_by_damage"] if r["damage"] else "",
                also("resurrected_by_power", "by power loss"), c["unexpected"],
                c["corrupt"], c["fifo_order"], c["dedup"], c["dedup_resends_across_restart"],
                "PASS" if r["ok"] else "FAIL: " + ", ".join(r["broken"])))


def main(argv=None):
    a = parse_args(argv)
    loop = Loop(a)
    try:
        r = loop.run()
    finally:
        loop.cleanup(keep=True)
    if a.history:
        with open(a.history, "w") as f:
            json.dump(loop.history.ops, f)
    print(summary(r))
    if not r["ok"]:
        print(json.dumps({k: r[k] for k in ("broken", "failures", "examples", "data_dir")}, indent=1)[:20000])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    if r["ok"] and not a.keep:
        shutil.rmtree(loop.dir, ignore_errors=True)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
