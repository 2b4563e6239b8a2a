"""What a power loss would leave of Sluice's data directory, from its sync trace.

The daemon started with SLUICE_SYNC_TRACE=<file> (src/store/io_trace.c)
appends a line for each event that decides what is durable: a file opened
(did it exist, how long), the first write below what was synced, a
truncation, a rename (recorded before the call), and a successful fsync of
a file (its size) or of a directory (recorded after). The file is a 64-byte
header ("SLUICETR", u64 bytes used, u64 lines dropped) and the lines, which
the daemon copies into a shared mapping of it (read_trace). A kill -9 keeps the
page cache, so the files then hold more than a disk would after a power
loss at that instant. `apply(trace, data_dir)` rewrites the directory into
the worst state this model allows:

* a file keeps its bytes below min(its size at its last sync, the lowest
  offset written since); it is cut there (an all-zero tail, which is what
  a disk could also hold, reads the same to recovery);
* a name created or renamed to since its directory's last fsync is gone:
  a renamed file goes back to its old name if that one was durable, a
  created file is removed;
* a file the trace never opened was durable before the trace began (the
  crash loop starts a new trace after each simulated loss: what survived
  it is, from then on, what the disk holds).

Not modelled: unlinks (taken as durable at once; the store unlinks only
files it no longer needs, so one coming back is harmless to it), the
unsynced part surviving in part (pages written back early, in any order,
a torn page), a drive whose own cache loses what it acknowledged as
flushed, and the old contents of a file a pending rename replaced (they
are gone from this disk; counted as `unrestorable`).

The cut records of log segments are parsed (walfile): the crash-loop
tokens in them and the first LSN cut let the checker tell losses the power
loss explains from any other.
"""
import os
import struct

import walfile

INF = float("inf")
TRACE_HDR = 64
MAGIC = b"SLUICETR"


def read_trace(path):
    """The whole lines of a trace. A place reserved and not yet filled when
    the kill came is zeros, and a line is whole once its '\\n' is there (the
    daemon stores it last): the text after the last NUL of each line."""
    with open(path, "rb") as f:
        magic, used, dropped = struct.unpack("<8sQQ", f.read(24))
        if magic != MAGIC:
            raise ValueError("%s is not a sync trace" % path)
        if dropped:
            raise ValueError("%s overflowed: %d events dropped" % (path, dropped))
        f.seek(TRACE_HDR)
        data = f.read(used)
    return [ln.rsplit(b"\0", 1)[-1].decode() for ln in data.split(b"\n")[:-1]]


def write_trace(path, lines, tail=b""):
    """A trace file holding lines (for tests), then tail (bytes)."""
    data = "".join(ln + "\n" for ln in lines).encode() + tail
    with open(path, "wb") as f:
        f.write(struct.pack("<8sQQ", MAGIC, len(data), 0).ljust(TRACE_HDR, b"\0") + data)


class Inode:
    """One file's durability: bytes synced, and the lowest offset changed since."""

    def __init__(self, synced):
        self.synced = synced
        self.dirty = INF

    def keep(self):
        return min(self.synced, self.dirty)


class Model:
    """The trace replayed: the directory as it is and as a power loss would leave it."""

    def __init__(self):
        self.names = {}    # path -> Inode, as the directory is now
        self.durable = {}  # path -> Inode, as it is on the disk

    def feed(self, line):
        f = line.rstrip("\n").split("\t")
        n = {"open": 3, "write": 1, "trunc": 1, "sync": 1, "rename": 0, "dirsync": 0}[f[0]]  # fields before paths
        getattr(self, "ev_" + f[0])(*(f[1:n + 1] + [os.path.normpath(p) for p in f[n + 1:]]))

    def ev_open(self, existed, size, trunc, path):
        ino = self.names.get(path)
        if ino is None or existed == "0":
            ino = self.names[path] = Inode(int(size) if existed == "1" else 0)
            if existed == "1":  # older than the trace: durable
                self.durable.setdefault(path, ino)
        if trunc == "1":
            ino.dirty = 0

    def ev_write(self, off, path):
        if path in self.names:
            ino = self.names[path]
            ino.dirty = min(ino.dirty, int(off))

    ev_trunc = ev_write

    def ev_sync(self, size, path):
        ino = self.names.setdefault(path, Inode(0))
        ino.synced, ino.dirty = int(size), INF

    def ev_rename(self, src, dst):
        ino = self.names.pop(src, None)
        if ino is None:  # older than the trace: durable under src, whole
            ino = self.durable.setdefault(src, Inode(INF))
        self.names[dst] = ino

    def ev_dirsync(self, d):
        self.durable = {p: i for p, i in self.durable.items() if os.path.dirname(p) != d}
        self.durable.update({p: i for p, i in self.names.items() if os.path.dirname(p) == d})


class Cut:
    """What one simulated power loss took."""

    def __init__(self):
        self.truncated = []     # (name, size before, size after)
        self.removed = []       # names
        self.renamed_back = []  # (name, old name)
        self.unrestorable = []  # names whose replaced contents are gone
        self.tokens = set()     # crash-loop tokens in cut log records
        self.records = 0        # log records cut
        self.record_bytes = 0   # their bytes
        self.cut_lsn = None     # the lowest LSN cut, if any

    def cut_segment(self, path, keep):
        seg = walfile.Segment(path)
        self.tokens |= {m.group(1).decode() for m in walfile.TOKEN.finditer(seg.data, min(keep, seg.end), seg.end)}
        lost = [lsn for off, size, lsn in seg.records if off + size > keep]
        self.record_bytes += max(0, seg.end - max(keep, walfile.HDR))
        self.records += len(lost)
        if lost and (self.cut_lsn is None or lost[0] < self.cut_lsn):
            self.cut_lsn = lost[0]

    def as_dict(self):
        return {"truncated": [list(t) for t in self.truncated], "removed": self.removed,
                "renamed_back": [list(t) for t in self.renamed_back], "unrestorable": self.unrestorable,
                "tokens_cut": len(self.tokens), "records_cut": self.records, "record_bytes_cut": self.record_bytes,
                "cut_lsn": self.cut_lsn}


def _is_segment(path):
    name = os.path.basename(path)
    return name.startswith("wal-") and name.endswith(".log")


def _truncate(cut, path, keep):
    size = os.path.getsize(path)
    if keep >= size:
        return
    if _is_segment(path):
        cut.cut_segment(path, keep)
    os.truncate(path, keep)
    cut.truncated.append((os.path.basename(path), size, keep))


def _lose_name(model, cut, path, ino):
    """path's entry was never made durable: back to a durable old name, or gone."""
    old = [p for p, i in model.durable.items() if i is ino and p != path]
    if model.durable.get(path) is not None:  # replaced a durable file: its old contents are gone here
        cut.unrestorable.append(os.path.basename(path))
        _truncate(cut, path, ino.keep())
    elif old and not os.path.exists(old[0]):
        _truncate(cut, path, ino.keep())
        os.rename(path, old[0])
        cut.renamed_back.append((os.path.basename(path), os.path.basename(old[0])))
    else:
        if _is_segment(path):
            cut.cut_segment(path, 0)
        os.unlink(path)
        cut.removed.append(os.path.basename(path))


def apply(trace, data_dir):
    """Rewrites data_dir as a power loss at this instant could leave it; returns the Cut."""
    model, cut = Model(), Cut()
    for line in read_trace(trace):
        if line:
            model.feed(line)
    data_dir = os.path.normpath(os.path.abspath(data_dir))
    for path, ino in sorted(model.names.items()):
        if os.path.dirname(path) != data_dir or not os.path.isfile(path):
            continue  # elsewhere, or unlinked since
        if model.durable.get(path) is ino:
            _truncate(cut, path, ino.keep())
        else:
            _lose_name(model, cut, path, ino)
    return cut
