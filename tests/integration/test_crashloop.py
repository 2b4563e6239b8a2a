"""The crash loop (tests/crash/crashloop.py), short: its checker on made-up
histories (each anomaly it must catch), the power-loss model on made-up
sync traces, then real runs — 15 kill -9 cycles under fsync always, 5
cycles that also damage the log's tail, and simulated power losses under
always (nothing acknowledged lost) and off (acknowledged sends lost, each
explained by what the loss cut) — against the daemon under test. The long
run is `make crashloop CYCLES=200`."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

from sluice_harness import ASAN, SLUICE_BIN, VALGRIND

CRASH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crash")
sys.path.insert(0, CRASH)

from checker import Checker  # noqa: E402
import powerloss  # noqa: E402
import walfile  # noqa: E402


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


FakeCut = FakeDamage


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

    def test_losses_a_power_cut_explains(self):
        ops = [send("s.0.a.1", 0), send("s.0.a.2", 0), recv(1, "s.0.a.2"), delete("s.0.a.2", 2),
               recv(3, "s.0.a.2", cycle=1)]
        cut = [(0, FakeCut({"s.0.a.1"}, cut_lsn=50))]
        c = self.counts(ops, power_cuts=cut, cycle_end_lsn={0: 60})
        self.assertEqual((c["lost"], c["lost_to_power"], c["resurrected"], c["resurrected_by_power"]), (0, 1, 0, 1))
        self.assertEqual(Checker(ops, power_cuts=cut, cycle_end_lsn={0: 60}).check().broken("always"), [])
        # a cut reaches into the records of the cycle it ends, not an earlier one
        c = self.counts(ops, power_cuts=[(1, FakeCut({"s.0.a.1"}, cut_lsn=50))], cycle_end_lsn={0: 60})
        self.assertEqual((c["lost_to_power"], c["resurrected"]), (1, 1))
        # a cut token delivered under two message ids is a copy the loss explains
        ops = [fifo("f.g.0", 0), recv(1, "f.g.0", q="fifo"), fifo("f.g.0", 5, mid="other", resend=True, cycle=1),
               recv(6, "f.g.0", q="fifo", cycle=1)]
        ops[-1]["msgs"][0]["mid"] = "other"
        c = self.counts(ops, power_cuts=[(0, FakeCut({"f.g.0"}))])
        self.assertEqual((c["copies"], c["dedup"], c["copies_by_power"]), (0, 0, 1))
        self.assertEqual(self.counts(ops)["copies"], 1)

    def test_unexpected_corrupt_and_failed_sends(self):
        c = self.counts([send("s.0.a.1", 0, out="fail"), recv(1, "s.0.a.1", "s.0.a.9"),
                         dict(op="bad", q="std", mid="x", why="body checksum mismatch", body="...")])
        self.assertEqual((c["unexpected"], c["corrupt"], c["failed_delivered"]), (1, 1, 1))


def segment(first, bodies):
    """A log segment in Sluice's format: (bytes, [record end offsets])."""
    hdr = b"SLUICEWL" + struct.pack("<IQ", 1, first)
    out, ends = bytearray(hdr + struct.pack("<I", walfile.crc32c(hdr))), []
    for i, body in enumerate(bodies):
        rec = struct.pack("<QB", first + i, 1) + body
        out += struct.pack("<II", len(rec), walfile.crc32c(rec)) + rec
        ends.append(len(out))
    return bytes(out), ends


class PowerLossModel(unittest.TestCase):
    """powerloss.apply on made-up traces: what a power loss keeps of each file."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, "data")
        os.mkdir(self.dir)
        self.lines = []

    def tearDown(self):
        self.tmp.cleanup()

    def p(self, name):
        return os.path.join(self.dir, name)

    def file(self, name, data):
        with open(self.p(name), "wb") as f:
            f.write(data)

    def ev(self, *fields):
        """A trace line; fields that are file names are made paths in the directory."""
        self.lines.append("\t".join(self.p(x) if isinstance(x, str) and "." in x else str(x) for x in fields))

    def apply(self, tail=b""):
        trace = os.path.join(self.tmp.name, "trace")
        powerloss.write_trace(trace, self.lines, tail)
        return powerloss.apply(trace, self.dir)

    def size(self, name):
        return os.path.getsize(self.p(name)) if os.path.exists(self.p(name)) else None

    def test_a_file_keeps_what_its_last_sync_covered(self):
        self.file("old.dat", b"x" * 500)   # durable before the trace began
        self.file("other.dat", b"y" * 50)  # never in the trace: untouched
        self.ev("open", 1, 100, 0, "old.dat")
        self.ev("sync", 300, "old.dat")
        self.ev("write", 250, "old.dat")   # over what was synced: not durable from there on
        self.lines[-1] = "\0" * 9 + self.lines[-1]  # after a place reserved and never filled
        self.ev("rename", "old.dat", "new.dat")
        torn = self.lines.pop()
        self.ev("write", 200, "old.dat")     # after a line the kill tore (its '\n', stored last, missing)
        self.lines[-1] = torn[:12] + "\0" * (len(torn) - 11) + self.lines[-1]
        cut = self.apply(tail=b"sync\t500\t" + self.p("old.dat").encode())  # no '\n' yet: no event
        self.assertEqual((self.size("old.dat"), self.size("other.dat")), (200, 50))
        self.assertEqual(cut.truncated, [("old.dat", 500, 200)])

    def test_names_need_a_directory_fsync(self):
        for name in ("a.log", "b.log", "c.dat", "d.dat"):  # the directory as the kill left it
            self.file(name, b"z" * 64)
        self.ev("open", 0, 0, 1, "b.log.tmp")  # the durable-file recipe, whole: kept
        self.ev("sync", 64, "b.log.tmp")
        self.ev("rename", "b.log.tmp", "b.log")
        self.ev("dirsync", self.dir)
        self.ev("open", 0, 0, 0, "a.log")      # created and synced, its directory not since: gone
        self.ev("sync", 64, "a.log")
        self.ev("open", 0, 0, 1, "c.dat.tmp")  # renamed, the directory not synced since: gone
        self.ev("sync", 64, "c.dat.tmp")
        self.ev("rename", "c.dat.tmp", "c.dat")
        self.ev("open", 1, 64, 0, "keep.dat")  # durable, renamed, not synced since: back under its name
        self.ev("rename", "keep.dat", "d.dat")
        cut = self.apply()
        self.assertEqual(sorted(os.listdir(self.dir)), ["b.log", "keep.dat"])
        self.assertEqual((self.size("b.log"), self.size("keep.dat")), (64, 64))
        self.assertEqual(sorted(cut.removed), ["a.log", "c.dat"])
        self.assertEqual(cut.renamed_back, [("d.dat", "keep.dat")])

    def test_cut_log_records_name_their_tokens(self):
        data, ends = segment(7, [b"sl1|s.0.a.%d|body" % i for i in range(4)])
        seg = "wal-00000000000000000007.log"
        self.file(seg, data + bytes(4096))  # the zeros ahead
        self.ev("open", 0, 0, 0, seg)
        self.ev("dirsync", self.dir)
        self.ev("write", 24, seg)
        self.ev("sync", len(data) + 4096, seg)  # records 7 to 10 and the zeros: then 9 and 10 written over
        self.ev("write", ends[1], seg)
        cut = self.apply()
        self.assertEqual(self.size(seg), ends[1])
        self.assertEqual((cut.tokens, cut.records, cut.cut_lsn), ({"s.0.a.2", "s.0.a.3"}, 2, 9))


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

    def test_power_loss_fsync_always_loses_nothing_acknowledged(self):
        r = self.run_loop("--cycles", "4", "--fsync", "always", "--power-loss", "--seed", "3")
        self.check_report(r, 4)
        self.assertEqual(len(r["power_losses"]), 4)
        self.assertEqual(r["acknowledged_cut"], 0)

    def test_power_loss_fsync_off_loses_acknowledged_sends(self):
        r = self.run_loop("--cycles", "4", "--fsync", "off", "--power-loss", "--seed", "4")
        c = r["counts"]
        self.assertTrue(r["ok"], r["broken"])  # every loss is one the cut records explain
        for k in ("lost", "resurrected", "copies", "dedup", "fifo_order", "unexpected", "corrupt"):
            self.assertEqual(c[k], 0, k)
        self.assertGreater(r["acknowledged_cut"], 0, r["power_losses"])
        self.assertGreater(c["lost_to_power"] + c["resurrected_by_power"], 0)

    def test_damaged_tail_cycles(self):
        r = self.run_loop("--cycles", "5", "--fsync", "always", "--damage", "--seed", "2")
        self.check_report(r, 5)
        self.assertGreaterEqual(len(r["damages"]), 4)  # a cycle whose newest segment is empty is not damaged


if __name__ == "__main__":
    unittest.main()
