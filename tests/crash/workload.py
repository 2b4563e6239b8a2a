"""The crash loop's clients and the history they write.

Every message carries a token that names it ("s.<cycle>.<worker>.<n>" standard,
"f.<group>.<seq>" FIFO, "p.<cycle>.<worker>.<n>" published) and a body that
is a pure function of the token with a checksum in it, so any body or
attribute that comes back can be checked against what was sent without
keeping the bodies.

Workers keep their state (FIFO sequence numbers, unanswered FIFO sends) from
cycle to cycle; each cycle runs them on fresh threads until the daemon dies
or `stop` is set. Every request becomes one history entry per message:
  send  {q, tok, out, mid, t0, t1, cycle[, group, seq, resend]}
  recv  {q, t0, t1, cycle, out, msgs: [{tok, mid, group, seqnum}]}  (mid: a publish's
                                                  id for the subscribed queue)
  del   {q, tok, mid, out, t0, t1, cycle}
  bad   {q, mid, why, body}                     a body or attribute that is wrong
with out "ok" (answered), "fail" (answered with an error) or "unknown" (the
connection died: it may or may not have happened). Times are
time.monotonic() before the request and after its answer.
"""
import hashlib
import json
import random
import threading
import time
from collections import deque

import botocore

VISIBILITY = 3          # seconds a receive hides its messages
DEDUP_AGE_MAX = 240.0   # resend for dedup only within 4 of SQS's 5 minutes
GROUPS_PER_SENDER = 3


class Corrupt(Exception):
    pass


def make_body(tok):
    h = hashlib.sha256(tok.encode()).hexdigest()
    n = 16 + int(h[:3], 16) % 1500
    core = "%s|%s" % (tok, (h * (n // 64 + 1))[:n])
    return "sl1|%s|%s" % (core, hashlib.sha256(core.encode()).hexdigest()[:16])


def make_attrs(tok, binary=True):
    """The message attributes sent with tok, in the SDK's request shape."""
    a = {"tok": {"DataType": "String", "StringValue": tok},
         "len": {"DataType": "Number", "StringValue": str(len(make_body(tok)))}}
    if binary:
        a["bin"] = {"DataType": "Binary", "BinaryValue": hashlib.sha256(tok.encode()).digest()[:8]}
    return a


def check_body(body):
    """The token of a body that is exactly what was sent for it; Corrupt otherwise."""
    parts = body.split("|")
    if len(parts) != 4 or parts[0] != "sl1":
        raise Corrupt("body is not a crash-loop body")
    core = "%s|%s" % (parts[1], parts[2])
    if hashlib.sha256(core.encode()).hexdigest()[:16] != parts[3]:
        raise Corrupt("body checksum mismatch")
    if body != make_body(parts[1]):
        raise Corrupt("body differs from what was sent for %s" % parts[1])
    return parts[1]


def check_sqs_message(m):
    """(token, message id) of a message whose body and attributes are exactly what was sent."""
    tok = check_body(m["Body"])
    if m.get("MessageAttributes") != make_attrs(tok):
        raise Corrupt("message attributes differ from what was sent for %s" % tok)
    return tok, m["MessageId"]


def sns_checker(topic_arn):
    """check_sqs_message for a queue subscribed to topic_arn: the message id is the publish's."""
    def check(m):
        env = json.loads(m["Body"])
        tok = check_body(env["Message"])
        if env.get("TopicArn") != topic_arn:
            raise Corrupt("envelope names another topic")
        want = {k: {"Type": v["DataType"], "Value": v["StringValue"]} for k, v in make_attrs(tok, False).items()}
        if env.get("MessageAttributes") != want:
            raise Corrupt("envelope attributes differ from what was published for %s" % tok)
        return tok, env["MessageId"]
    return check


class History:
    def __init__(self):
        self.ops = []  # list.append is atomic: workers append without a lock

    def add(self, **op):
        self.ops.append(op)


class Target:
    """The queues and the topic under test (created once by the driver)."""

    def __init__(self, std, fifo, sns_queue, topic):
        self.urls = {"std": std, "fifo": fifo, "sns": sns_queue}
        self.topic = topic
        self.checks = {"std": check_sqs_message, "fifo": check_sqs_message, "sns": sns_checker(topic)}


def answer_kind(exc):
    return "fail" if isinstance(exc, botocore.exceptions.ClientError) else "unknown"


class Worker:
    """A load thread's state. run() loops step() until stop, the deadline or
    the first request whose connection died (the daemon is gone)."""

    def __init__(self, name, make_client, history, target, seed):
        self.name, self.history, self.target = name, history, target
        self.client = make_client()
        self.seed = seed
        self.cycle = 0

    def run(self, cycle, stop, deadline):
        self.cycle = cycle
        self.rnd = random.Random("%s/%s/%d" % (self.seed, self.name, cycle))
        while not stop.is_set() and time.monotonic() < deadline:
            if not self.step():
                return

    def record(self, **op):
        self.history.add(cycle=self.cycle, **op)


class Sender(Worker):
    """Common path of every send: one history entry per token."""

    n = 0

    def new_tokens(self, kind):
        """One token (60%) or a batch of 2..10: "<kind>.<cycle>.<worker>.<n>"."""
        k = 1 if self.rnd.random() < 0.6 else self.rnd.randint(2, 10)
        self.n += k
        return ["%s.%d.%s.%d" % (kind, self.cycle, self.name, self.n - k + i) for i in range(k)]

    def send(self, q, call, toks, batch, extra=None):
        """Runs call (one request for toks) and records it; {token: (outcome, message id)}.
        extra: {token: more fields for its history entry}."""
        extra = extra or {}
        t0 = time.monotonic()
        try:
            r = call()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            t1, kind = time.monotonic(), answer_kind(e)
            for tok in toks:
                self.record(op="send", q=q, tok=tok, out=kind, mid=None, t0=t0, t1=t1, **extra.get(tok, {}))
            return {tok: (kind, None) for tok in toks}
        t1 = time.monotonic()
        got = {tok: ("fail", None) for tok in toks}
        if not batch:
            got[toks[0]] = ("ok", r["MessageId"])
        else:
            for ok in r.get("Successful", []):
                got[toks[int(ok["Id"])]] = ("ok", ok["MessageId"])
        for tok in toks:
            self.record(op="send", q=q, tok=tok, out=got[tok][0], mid=got[tok][1], t0=t0, t1=t1,
                        **extra.get(tok, {}))
        return got

    def sqs_send(self, q, toks, extra=None, **fields):
        """SendMessage for one token, SendMessageBatch for more; fields(tok) adds FIFO fields."""
        url, c = self.target.urls[q], self.client
        entry = lambda tok: dict(MessageBody=make_body(tok), MessageAttributes=make_attrs(tok),  # noqa: E731
                                 **{k: f(tok) for k, f in fields.items()})
        if len(toks) == 1:
            return self.send(q, lambda: c.send_message(QueueUrl=url, **entry(toks[0])), toks, False, extra)
        batch = [dict(Id=str(i), **entry(t)) for i, t in enumerate(toks)]
        return self.send(q, lambda: c.send_message_batch(QueueUrl=url, Entries=batch), toks, True, extra)


class StdSender(Sender):
    def step(self):
        got = self.sqs_send("std", self.new_tokens("s"))
        return all(o != "unknown" for o, _ in got.values())


class Publisher(Sender):
    def step(self):
        toks = self.new_tokens("p")
        sns, arn = self.client, self.target.topic
        entries = [{"Id": str(i), "Message": make_body(t), "MessageAttributes": make_attrs(t, False)}
                   for i, t in enumerate(toks)]
        if len(toks) == 1:
            one = {k: v for k, v in entries[0].items() if k != "Id"}
            got = self.send("sns", lambda: sns.publish(TopicArn=arn, **one), toks, False)
        else:
            got = self.send("sns", lambda: sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries),
                            toks, True)
        return all(o != "unknown" for o, _ in got.values())


class FifoSender(Sender):
    """Owns GROUPS_PER_SENDER message groups and sends each group's messages in
    sequence order: a send whose answer was lost is sent again, with the same
    deduplication id, before anything newer of its group. Now and then it also
    re-sends a message acknowledged in an earlier cycle (so across a restart),
    which deduplication must answer with the first send's message id."""

    def __init__(self, *a):
        super().__init__(*a)
        self.groups = ["%s-%d" % (self.name, i) for i in range(GROUPS_PER_SENDER)]
        self.seq = {g: 0 for g in self.groups}
        self.pending = {g: [] for g in self.groups}   # tokens with no definite answer
        self.acked = deque(maxlen=200)                # (tok, cycle, time acknowledged)

    def step(self):
        g = self.rnd.choice(self.groups)
        if self.pending[g]:
            toks, resend = self.pending[g][:10], True
        elif self.rnd.random() < 0.05 and self.resend_acked():
            return True
        else:
            k = 1 if self.rnd.random() < 0.6 else self.rnd.randint(2, 10)
            toks = ["f.%s.%d" % (g, self.seq[g] + i) for i in range(k)]
            self.seq[g] += k
            resend = False
        got = self.fifo_send(g, toks, resend)
        self.settle(g, toks, got)
        return all(o != "unknown" for o, _ in got.values())

    def fifo_send(self, g, toks, resend):
        """toks of group g; each token is its message's deduplication id."""
        extra = {t: {"group": g, "seq": int(t.rsplit(".", 1)[1]), "resend": resend} for t in toks}
        return self.sqs_send("fifo", toks, extra, MessageGroupId=lambda t: g, MessageDeduplicationId=lambda t: t)

    def settle(self, g, toks, got):
        now = time.monotonic()
        self.pending[g] = [t for t in self.pending[g] if t not in got]
        for t in toks:
            if got[t][0] == "unknown":
                self.pending[g].append(t)
            elif got[t][0] == "ok":
                self.acked.append((t, self.cycle, now))
        self.pending[g].sort(key=lambda t: int(t.rsplit(".", 1)[1]))

    def resend_acked(self):
        now = time.monotonic()
        old = [(t, c) for t, c, at in self.acked if c < self.cycle and now - at < DEDUP_AGE_MAX]
        if not old:
            return False
        tok = self.rnd.choice(old)[0]
        g = tok.split(".")[1]
        if self.pending[g]:
            return False
        self.fifo_send(g, [tok], True)  # any answer: the checker compares message ids
        return True


class Receiver(Worker):
    """Receives from a random queue and deletes what it got (one by one or in
    a batch), leaving a few messages undeleted so they come back."""

    def step(self):
        q = self.rnd.choice(["std", "fifo", "sns"])
        got = self.receive(q, self.rnd.randint(1, 10), VISIBILITY, self.rnd.choice([0, 0, 1]))
        if got is None:
            return False
        keep = [g for g in got if self.rnd.random() >= 0.03]
        return self.delete(q, keep, batch=self.rnd.random() < 0.5)

    def receive(self, q, n, visibility, wait):
        """[(token, message id, message)] received and checked, or None when the connection died."""
        t0 = time.monotonic()
        try:
            r = self.client.receive_message(QueueUrl=self.target.urls[q], MaxNumberOfMessages=n,
                                            VisibilityTimeout=visibility, WaitTimeSeconds=wait,
                                            AttributeNames=["All"], MessageAttributeNames=["All"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            self.record(op="recv", q=q, out=answer_kind(e), msgs=[], t0=t0, t1=time.monotonic())
            return None if answer_kind(e) == "unknown" else []
        t1 = time.monotonic()
        msgs, good = [], []
        for m in r.get("Messages", []):
            try:
                tok, mid = self.target.checks[q](m)
            except (Corrupt, ValueError, KeyError, TypeError) as e:
                self.record(op="bad", q=q, mid=m.get("MessageId"), why=str(e), body=m.get("Body", "")[:300])
                continue
            a = m.get("Attributes", {})
            msgs.append({"tok": tok, "mid": mid, "group": a.get("MessageGroupId"),
                         "seqnum": a.get("SequenceNumber")})
            good.append((tok, mid, m))
        self.record(op="recv", q=q, out="ok", msgs=msgs, t0=t0, t1=t1)
        return good

    def delete(self, q, got, batch):
        if not got:
            return True
        url = self.target.urls[q]
        if not batch:
            return all(self.delete_some(q, [g], lambda e: self.client.delete_message(
                QueueUrl=url, ReceiptHandle=e[0]["ReceiptHandle"])) for g in got)
        return self.delete_some(q, got, lambda es: self.client.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(es)]))

    def delete_some(self, q, got, call):
        t0 = time.monotonic()
        outs = ["ok"] * len(got)
        try:
            r = call([m for _, _, m in got])
            for f in r.get("Failed", []):
                outs[int(f["Id"])] = "fail"
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            outs = [answer_kind(e)] * len(got)
        t1 = time.monotonic()
        for (tok, mid, _), out in zip(got, outs):
            self.record(op="del", q=q, tok=tok, mid=mid, out=out, t0=t0, t1=t1)
        return "unknown" not in outs


def run_cycle(workers, cycle, stop, deadline):
    threads = [threading.Thread(target=w.run, args=(cycle, stop, deadline), daemon=True) for w in workers]
    for t in threads:
        t.start()
    return threads
