"""Reading and damaging the tail of Sluice's newest log segment.

The format (docs/ARCHITECTURE.md, src/store/store_int.h): a 24-byte header
(magic "SLUICEWL", version, first LSN, CRC-32C), then records
`u32 len | u32 crc32c | u64 lsn | u8 type | payload` with len = payload + 9
and the checksum over lsn, type and payload; after a crash the active
segment ends in zeros written ahead of its records.

Damage is applied between a kill -9 and the restart, only to the records of
the newest segment (damage anywhere else is refused by design). Recovery
cuts the newest segment at the first record that is not whole, so the
record containing the damaged byte and every record after it are what may
be lost: `Damage.cut_at` is that record's offset, `Damage.tokens` the
crash-loop tokens whose bodies lie in those records.
"""
import os
import re
import struct

HDR = 24
REC_HDR = 17
TAIL = 4096  # damage falls in the last TAIL bytes of the records
TOKEN = re.compile(rb"sl1\|([a-z0-9.\-]+)\|")


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc32c_table()


def crc32c(data):
    c, t = 0xFFFFFFFF, _T
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


class Segment:
    """The records of one segment: [(offset, size, lsn)], and where they end."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read()
        self.records = []
        self.end = HDR
        if len(self.data) < HDR or self.data[:8] != b"SLUICEWL":
            return
        lsn = struct.unpack_from("<Q", self.data, 12)[0]
        self._walk(lsn)
        self._check_tail()

    def _walk(self, lsn):
        d, off = self.data, HDR
        while off + REC_HDR <= len(d):
            n, _, rlsn = struct.unpack_from("<IIQ", d, off)
            if n < 9 or off + 8 + n > len(d) or rlsn != lsn:
                break
            self.records.append((off, n + 8, rlsn))
            off, lsn = off + n + 8, lsn + 1
        self.end = off

    def _check_tail(self):
        """Checksums the records near the end; a torn one (and what follows) is not a record."""
        for i, (off, size, _) in enumerate(self.records):
            if off + size < self.end - 2 * TAIL:
                continue
            crc = struct.unpack_from("<I", self.data, off + 4)[0]
            if crc32c(self.data[off + 8:off + size]) != crc:
                del self.records[i:]
                self.end = off
                return

    def record_at(self, pos):
        """The offset and LSN of the record that holds byte pos."""
        for off, size, lsn in reversed(self.records):
            if off <= pos:
                return (off, lsn) if pos < off + size else (off + size, lsn + 1)
        return HDR, None

    def last_lsn(self):
        return self.records[-1][2] if self.records else None


def newest_segment(data_dir):
    names = sorted(n for n in os.listdir(data_dir) if n.startswith("wal-") and n.endswith(".log"))
    return Segment(os.path.join(data_dir, names[-1])) if names else None


class Damage:
    """One damage applied: kind, the byte it hit, where recovery must cut."""

    def __init__(self, seg, kind, pos, size_after):
        self.path, self.kind, self.pos = seg.path, kind, pos
        self.cut_at, self.cut_lsn = seg.record_at(pos)
        self.boundary = kind == "truncate" and self.cut_at == pos  # between two records: nothing torn
        self.cut_bytes = size_after - self.cut_at
        self.tokens = {m.group(1).decode() for m in TOKEN.finditer(seg.data, self.cut_at, seg.end)}

    def as_dict(self):
        return {"segment": os.path.basename(self.path), "kind": self.kind, "pos": self.pos,
                "cut_at": self.cut_at, "cut_lsn": self.cut_lsn, "tokens_at_risk": len(self.tokens)}

    def check_log(self, log):
        """None when the restart's log says what this damage requires; else why not."""
        lines = [ln for ln in log.splitlines() if "event=store_torn_tail" in ln and self.path in ln]
        if self.boundary:
            return None if not lines else "a truncation at a record boundary was reported as torn: %s" % lines
        want = "offset=%d cut_bytes=%d " % (self.cut_at, self.cut_bytes)
        if not any(want in ln for ln in lines):
            return "expected a store_torn_tail line with %r for %s; got %s" % (want, self.path, lines or "none")
        size = os.path.getsize(self.path)
        if size != self.cut_at:
            return "%s is %d bytes after recovery, expected %d" % (self.path, size, self.cut_at)
        return None


def damage_tail(data_dir, rnd):
    """Truncates the newest segment by a few bytes of its records, or flips a
    byte in its last TAIL bytes of records. None when it holds no records."""
    seg = newest_segment(data_dir)
    if seg is None or not seg.records:
        return None
    lo = max(HDR, seg.end - TAIL)
    if rnd.random() < 0.5:
        pos = rnd.randrange(lo, seg.end)
        os.truncate(seg.path, pos)
        return Damage(seg, "truncate", pos, pos)
    pos = rnd.randrange(lo, seg.end)
    with open(seg.path, "r+b") as f:
        f.seek(pos)
        f.write(bytes([seg.data[pos] ^ rnd.randint(1, 255)]))
    return Damage(seg, "flip", pos, len(seg.data))
