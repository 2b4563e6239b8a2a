"""The crash loop (tests/crash/crashloop.py), short: its checker on made-up
histories (each anomaly it must catch), then real runs — 15 kill -9 cycles
under fsync always, and 5 cycles that also damage the log's tail — against
the daemon under test. The long run is `make crashloop CYCLES=200`."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from sluice_harness import ASAN, SLUICE_BIN, VALGRIND

CRASH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crash")
sys.path.insert(0, CRASH)

from checker import Checker  # noqa: E402


def send(tok, t, mid=None, q="std", out="ok", cycle=0, **kw):
    return dict(op="send", q=q, tok=tok, out=out, mid=mid or "id-" + tok, t0=t, t1=t + 0.1, cycle=cycle, **kw)


def fifo(tok, t, **kw):
    g, seq = tok.split(".")[1], int(tok.split(".")[2])
    return send(tok, t, q="fifo", group=g, seq=seq, resend=kw.pop("resend", False), **kw)


def recv(t, *toks, q="std", cycle=0, seqnums=None):
    msgs = [{"tok": k, "mid": "id-" + k, "group": k.split(".")[1] if q == "fifo" else None,
             "seqnum": str((seqnums or {}).get(k, 100 + int(k.split(".")[2]))) if q == "fifo" else None}
            for k in toks]
    return dict(op="recv", q=q, out="ok", msgs=msgs, t0=t, t1=t + 0.1, cycle=cycle)


def delete(tok, t, out="ok", q="std", cycle=0):
    return dict(op="del", q=q, tok=tok, mid="id-" + tok, out=out, t0=t, t1=t + 0.1, cycle=cycle)


class FakeDamage:
    def __init__(self, tokens, cut_lsn=100):
        self.tokens, self.cut_lsn = set(tokens), cut_lsn


class CheckerCatches(unittest.TestCase):
    def counts(self, ops, **kw):
        return Checker(ops, **kw).check().counts

    def test_clean_history_has_no_anomaly(self):
        c = self.counts([send("s.0.a.1", 0), recv(1, "s.0.a.1"), delete("s.0.a.1", 2),
                         fifo("f.g.0", 0), fifo("f.g.1", 1), recv(2, "f.g.0", "f.g.1", q="fifo")])
        for k in ("lost", "resurrected", "fifo_order", "copies", "dedup", "unexpected"):
            self.assertEqual(c[k], 0, k)
        self.assertEqual(c["acknowledged"], 3)

    def test_lost_and_lost_to_damage(self):
        ops = [send("s.0.a.1", 0), send("s.0.a.2", 0), send("s.0.a.3", 0, out="unknown"), recv(1, "s.0.a.2")]
        self.assertEqual(self.counts(ops)["lost"], 1)
        c = self.counts(ops, damages=[(0, FakeDamage({"s.0.a.1"}))])
        self.assertEqual((c["lost"], c["lost_to_damage"]), (0, 1))
        self.assertEqual(Checker(ops).check().broken("always"), ["lost"])
        self.assertEqual(Checker(ops).check().broken("off"), [])

    def test_resurrected_delete(self):
        ops = [send("s.0.a.1", 0), recv(1, "s.0.a.1"), delete("s.0.a.1", 2), recv(3, "s.0.a.1", cycle=1)]
        self.assertEqual(self.counts(ops)["resurrected"], 1)
        c = self.counts(ops, damages=[(0, FakeDamage(set(), cut_lsn=50))], cycle_end_lsn={0: 60})
        self.assertEqual((c["resurrected"], c["resurrected_by_damage"]), (0, 1))
        # a receive that began before the delete was answered may still see it
        self.assertEqual(self.counts(ops[:3] + [recv(2.05, "s.0.a.1")])["resurrected"], 0)
        # a second copy (another message id) is a copy, not the deleted message come back
        copy = recv(3, "s.0.a.1", cycle=1)
        copy["msgs"][0]["mid"] = "other"
        c = self.counts(ops[:3] + [copy])
        self.assertEqual((c["resurrected"], c["copies"]), (0, 1))

    def test_fifo_order(self):
        base = [fifo("f.g.0", 0), fifo("f.g.1", 1)]
        # 1 delivered while 0, never deleted, was not ahead of it
        late = [recv(2, "f.g.1", q="fifo"), recv(9, "f.g.0", q="fifo")]
        self.assertGreater(self.counts(base + late)["fifo_order"], 0)
        self.assertGreater(self.counts(base + [recv(2, "f.g.1", "f.g.0", q="fifo")])["fifo_order"], 0)
        # 0 deleted first, or redelivered ahead of 1: in order
        ok = base + [recv(2, "f.g.0", q="fifo"), delete("f.g.0", 3, q="fifo"), recv(4, "f.g.1", q="fifo")]
        self.assertEqual(self.counts(ok)["fifo_order"], 0)
        ok = base + [recv(2, "f.g.0", q="fifo"), recv(6, "f.g.0", "f.g.1", q="fifo")]
        self.assertEqual(self.counts(ok)["fifo_order"], 0)
        # a failed delete does not unblock the group
        bad = base + [recv(2, "f.g.0", q="fifo"), delete("f.g.0", 3, out="fail", q="fifo"), recv(4, "f.g.1", q="fifo")]
        self.assertGreater(self.counts(bad)["fifo_order"], 0)
        # sequence numbers must rise with send order
        swapped = base + [recv(2, "f.g.0", "f.g.1", q="fifo", seqnums={"f.g.0": 7, "f.g.1": 5})]
        self.assertGreater(self.counts(swapped)["fifo_order"], 0)

    def test_dedup_and_copies(self):
        ops = [fifo("f.g.0", 0), fifo("f.g.0", 5, mid="other", resend=True, cycle=1)]
        c = self.counts(ops + [recv(6, "f.g.0", q="fifo")])
        self.assertEqual((c["dedup"], c["copies"]), (1, 1))
        ops = [fifo("f.g.0", 0), fifo("f.g.0", 5, resend=True, cycle=1), recv(6, "f.g.0", q="fifo")]
        c = self.counts(ops)
        self.assertEqual((c["dedup"], c["copies"], c["dedup_resends_across_restart"]), (0, 0, 1))

    def test_unexpected_corrupt_and_failed_sends(self):
        c = self.counts([send("s.0.a.1", 0, out="fail"), recv(1, "s.0.a.1", "s.0.a.9"),
                         dict(op="bad", q="std", mid="x", why="body checksum mismatch", body="...")])
        self.assertEqual((c["unexpected"], c["corrupt"], c["failed_delivered"]), (1, 1, 1))


@unittest.skipIf(VALGRIND, "under valgrind: kill -9 cycles and load measure the store and the timing, not memory")
class CrashLoop(unittest.TestCase):
    def run_loop(self, *args):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "report.json")
            p = subprocess.run([sys.executable, os.path.join(CRASH, "crashloop.py"), "--bin", SLUICE_BIN,
                                "--duration-per-cycle", "0.3,1", "--json", path] + list(args),
                               capture_output=True, text=True, timeout=900)
            print("  " + p.stdout.splitlines()[0] if p.stdout else p.stderr[-2000:])
            self.assertEqual(p.returncode, 0, p.stdout[-8000:] + p.stderr[-4000:])
            with open(path) as f:
                return json.load(f)

    def check_report(self, r, cycles):
        c = r["counts"]
        self.assertTrue(r["ok"], r["broken"])
        self.assertEqual(r["cycles"], cycles)
        for q in ("std", "fifo", "sns"):
            self.assertGreater(c["acknowledged_" + q], 20 if ASAN else 100, "the load did not get going")
        for k in ("lost", "resurrected", "fifo_order", "copies", "dedup", "unexpected", "corrupt"):
            self.assertEqual(c[k], 0, k)
        self.assertEqual(r["left_after_drain"], {"std": 0, "fifo": 0, "sns": 0})

    def test_kill9_cycles_fsync_always(self):
        r = self.run_loop("--cycles", "15", "--fsync", "always", "--seed", "1")
        self.check_report(r, 15)
        self.assertGreater(r["counts"]["dedup_resends_across_restart"], 0)

    def test_damaged_tail_cycles(self):
        r = self.run_loop("--cycles", "5", "--fsync", "always", "--damage", "--seed", "2")
        self.check_report(r, 5)
        self.assertGreaterEqual(len(r["damages"]), 4)  # a cycle whose newest segment is empty is not damaged


if __name__ == "__main__":
    unittest.main()
