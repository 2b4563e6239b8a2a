"""The crash loop's history checker, in the spirit of Jepsen's total-queue.

Input: the history (workload.py), the damages applied (walfile.Damage, each
with the cycle after which it was applied), the simulated power losses
whose losses are to be told apart (powerloss.Cut, likewise) and, with
either, the last LSN each cycle wrote. Output: counts, examples, and the
list of invariants broken.

  lost          acknowledged sends never delivered (the drain at the end
                delivers whatever is still present)
  resurrected   messages delivered (same message id) by a receive that began
                after a delete of theirs was acknowledged
  copies        a message delivered (or acknowledged) under two message ids:
                a send stored twice, or deduplication that failed
  dedup         a FIFO re-send with an acknowledged deduplication id answered
                with another message id
  fifo_order    a message delivered while an older message of its group
                that was ever delivered had had no delete attempted and was
                not ahead of it in the same receive; or SequenceNumbers of a
                group not rising with send order
  unexpected    a delivered token that no one ever sent
  corrupt       a body or attribute that differs from what was sent
  failed_delivered  a send answered with an error whose message exists

Damaged cycles: tokens whose records lay in a cut tail may be lost, copied
(their deduplication entry went with them) and are left out of the order
check; deletes acknowledged in a cycle whose records reached the cut may
come undone. These count separately (lost_to_damage, resurrected_by_damage).

Power losses (crashloop.py --power-loss) are told apart the same way:
acknowledged sends whose records the simulated loss cut count as
lost_to_power, deletes acknowledged in the cycle it cut back into as
resurrected_by_power, and a cut token delivered under two message ids as
copies_by_power. The loop passes its cuts only under `interval` and `off`:
under `always` a power loss must cost nothing acknowledged, so there every
such loss is plain `lost` or `resurrected` and fails the run.
"""
from collections import defaultdict

INF = float("inf")
EXAMPLES = 10
STRICT = ("fifo_order", "unexpected", "corrupt", "failed_delivered")
DURABLE = ("lost", "resurrected", "copies", "dedup")


class RangeMax:
    """Sparse table: max of vals[i:j] in O(1)."""

    def __init__(self, vals):
        self.t = [list(vals)]
        k = 1
        while 2 * k <= len(vals):
            prev = self.t[-1]
            self.t.append([max(prev[i], prev[i + k]) for i in range(len(vals) - 2 * k + 1)])
            k *= 2

    def max(self, i, j):
        if i >= j:
            return -INF
        k = (j - i).bit_length() - 1
        return max(self.t[k][i], self.t[k][j - (1 << k)])


class Checker:
    def __init__(self, ops, damages=(), cycle_end_lsn=None, power_cuts=()):
        self.ops = ops
        self.damages = list(damages)          # [(after_cycle, Damage)]
        self.power_cuts = list(power_cuts)    # [(after_cycle, powerloss.Cut)]
        self.cycle_end_lsn = cycle_end_lsn or {}
        self.damaged = set().union(*(d.tokens for _, d in self.damages))
        self.powered = set().union(*(p.tokens for _, p in self.power_cuts))
        self.cut = self.damaged | self.powered
        self.counts = defaultdict(int)
        self.examples = defaultdict(list)
        self.index()

    def flag(self, what, example, n=1):
        self.counts[what] += n
        if len(self.examples[what]) < EXAMPLES:
            self.examples[what].append(example)

    def index(self):
        self.sends = defaultdict(list)
        self.recvs = []
        self.deliveries = defaultdict(list)   # tok -> [(recv op, position)]
        self.dels = defaultdict(list)
        for op in self.ops:
            kind = op["op"]
            if kind == "send":
                self.sends[op["tok"]].append(op)
            elif kind == "recv" and op["out"] == "ok":
                self.recvs.append(op)
                for i, m in enumerate(op["msgs"]):
                    self.deliveries[m["tok"]].append((op, i))
            elif kind == "del":
                self.dels[op["tok"]].append(op)
            elif kind == "bad":
                self.flag("corrupt", {k: op[k] for k in ("q", "mid", "why", "body")})

    def status(self, tok):
        outs = {s["out"] for s in self.sends[tok]}
        return "ok" if "ok" in outs else "unknown" if "unknown" in outs else "fail"

    def check(self):
        self.check_sends()
        self.check_ids()
        self.check_resurrected()
        self.check_fifo_order()
        return self

    def check_sends(self):
        c = self.counts
        for tok, sends in self.sends.items():
            st, q = self.status(tok), sends[0]["q"]
            c["sent"] += 1
            c[st] += 1
            c["acknowledged_" + q] += st == "ok"
            n = len(self.deliveries.get(tok, ()))
            if n:
                c["delivered"] += 1
                c["deliveries"] += n
                c["duplicated_deliveries"] += n - 1
                c["unknown_present"] += st == "unknown"
                if st == "fail":
                    self.flag("failed_delivered", tok)
            elif st == "ok":
                self.flag("lost_to_damage" if tok in self.damaged else "lost_to_power" if tok in self.powered
                          else "lost", tok)
        c["acknowledged"] = c["ok"]
        for tok in self.deliveries:
            if tok not in self.sends:
                self.flag("unexpected", tok)

    def check_ids(self):
        for tok, sends in self.sends.items():
            acked = [s for s in sends if s["out"] == "ok"]
            ids = {s["mid"] for s in acked} | {op["msgs"][i]["mid"] for op, i in self.deliveries.get(tok, ())}
            if tok in self.cut:
                if tok in self.powered and len(ids) > 1:
                    self.flag("copies_by_power", {"tok": tok, "ids": sorted(ids)})
                continue
            if len(ids) > 1:
                self.flag("copies", {"tok": tok, "ids": sorted(ids)})
            later = [s for s in acked if s.get("resend") and any(a["cycle"] < s["cycle"] for a in acked)]
            self.counts["dedup_resends_across_restart"] += len(later)
            if len({s["mid"] for s in acked}) > 1:
                self.flag("dedup", {"tok": tok, "ids": sorted({s["mid"] for s in acked})})

    def delete_undone_by_damage(self, cycle):
        end = self.cycle_end_lsn.get(cycle)
        return any(after >= cycle and d.cut_lsn is not None and (end is None or end >= d.cut_lsn)
                   for after, d in self.damages)

    def delete_undone_by_power(self, cycle):
        """A power loss cuts into the records of the cycle it ends only: the
        restart before it left every earlier record on the disk (and the
        LSNs it cut are handed out again, so they name nothing older)."""
        end = self.cycle_end_lsn.get(cycle)
        return any(after == cycle and p.cut_lsn is not None and (end is None or end >= p.cut_lsn)
                   for after, p in self.power_cuts)

    def check_resurrected(self):
        for tok, dels in self.dels.items():
            acked = [d for d in dels if d["out"] == "ok"]
            if not acked:
                continue
            first = min(acked, key=lambda d: d["t1"])
            back = [op for op, i in self.deliveries.get(tok, ())
                    if op["t0"] > first["t1"] and op["msgs"][i]["mid"] == first["mid"]]
            if back:
                what = ("resurrected_by_damage" if self.delete_undone_by_damage(first["cycle"]) else
                        "resurrected_by_power" if self.delete_undone_by_power(first["cycle"]) else "resurrected")
                self.flag(what, {"tok": tok, "deleted_in_cycle": first["cycle"],
                                 "delivered_again_in_cycle": back[0]["cycle"]})

    def check_fifo_order(self):
        groups = defaultdict(list)   # group -> [(seq, tok)] of delivered FIFO tokens
        for tok in self.deliveries:
            s = self.sends.get(tok)
            if s and s[0]["q"] == "fifo" and tok not in self.cut:
                groups[s[0]["group"]].append((s[0]["seq"], tok))
        for g, members in groups.items():
            members.sort()
            self.check_group(g, members)
            self.check_seqnums(g, members)

    def first_delete_attempt(self, tok):
        return min((d["t0"] for d in self.dels.get(tok, ()) if d["out"] != "fail"), default=INF)

    def check_group(self, g, members):
        pos = {tok: k for k, (_, tok) in enumerate(members)}
        fd = RangeMax([self.first_delete_attempt(tok) for _, tok in members])
        for tok in (t for _, t in members):
            k = pos[tok]
            for op, i in self.deliveries[tok]:
                ahead = sorted(pos[m["tok"]] for m in op["msgs"][:i] if m["tok"] in pos and pos[m["tok"]] < k)
                edges = [-1] + ahead + [k]
                if any(fd.max(a + 1, b) > op["t1"] for a, b in zip(edges, edges[1:])):
                    self.flag("fifo_order", {"group": g, "tok": tok, "cycle": op["cycle"],
                                             "delivered_with": [m["tok"] for m in op["msgs"]]})

    def check_seqnums(self, g, members):
        last = None
        for seq, tok in members:
            nums = {int(op["msgs"][i]["seqnum"]) for op, i in self.deliveries[tok] if op["msgs"][i]["seqnum"]}
            if len(nums) != 1:
                continue  # two numbers are already counted as copies
            n = nums.pop()
            if last is not None and n <= last[1]:
                self.flag("fifo_order", {"group": g, "tok": tok, "sequence_number": n,
                                         "not_after": {"tok": last[0], "sequence_number": last[1]}})
            last = (tok, n)

    def broken(self, fsync):
        """The invariants this history breaks under fsync policy `fsync`."""
        hold = STRICT + (DURABLE if fsync == "always" else ())
        return [k for k in hold if self.counts[k]]
