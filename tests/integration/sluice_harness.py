"""Integration-test harness: starts the real build/sluice on a free loopback
port with its own data directory and hands out real AWS clients.

The same test files run under two interpreters (see run.sh):
  * the pyenv Python with boto3 1.43, whose SQS client speaks AWS JSON 1.0;
  * Debian's /usr/bin/python3 with boto3 1.26, whose SQS client speaks the
    query protocol.
PROTOCOL tells a test which one it is driving.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

import boto3
import botocore
from botocore.config import Config

SLUICE_BIN = os.environ.get(
    "SLUICE_BIN",
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "sluice"))
ASAN = os.environ.get("SLUICE_ASAN") == "1"
# SLUICE_VALGRIND=1: every daemon runs under valgrind's memcheck; an error
# or a definite leak makes it exit 67, which check_exit reports.
VALGRIND = os.environ.get("SLUICE_VALGRIND") == "1"
VALGRIND_CMD = ["valgrind", "-q", "--error-exitcode=67", "--leak-check=full", "--show-leak-kinds=definite",
                "--errors-for-leak-kinds=definite", "--child-silent-after-fork=yes", "--trace-children=no"]


def _protocol():
    model = botocore.session.get_session().get_service_model("sqs")
    return "json" if model.protocol == "json" else "query"


PROTOCOL = _protocol()
REGION = "us-east-1"
ACCOUNT = "000000000000"


def _find_cli_v1():
    if os.environ.get("SLUICE_AWS_V1"):
        return os.environ["SLUICE_AWS_V1"]
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "aws")
        if os.access(p, os.X_OK) and os.path.realpath(p) not in ("/usr/bin/aws", "/bin/aws"):
            return p
    return None


# The aws CLIs: the pyenv v1 (botocore 1.43, SQS over JSON 1.0) and Debian's
# v2 (SQS over the query protocol); CLI is the one of this interpreter's protocol.
CLI_V1 = _find_cli_v1()
CLI_V2 = shutil.which("aws", path="/usr/bin")
CLI = CLI_V1 if PROTOCOL == "json" else CLI_V2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
# memcheck's reports: "==PID== Invalid read of size 8", "... definitely lost in ...",
# "ERROR SUMMARY: 3 errors"
VALGRIND_MARKS = re.compile(r"==\d+== (Invalid |Conditional jump|Use of uninitialised|Syscall param|Mismatched |"
                            r"Source and destination overlap|.* definitely lost in |ERROR SUMMARY: [1-9])")


def check_exit(rc, log):
    """A daemon stopped with SIGTERM must exit 0 with no sanitizer report in its log."""
    if rc != 0:
        raise AssertionError("sluice exited with %s on SIGTERM; log:\n%s" % (rc, log[-20000:]))
    if any(m in log for m in SANITIZER_MARKS) or VALGRIND_MARKS.search(log):
        raise AssertionError("sanitizer report in sluice log:\n" + log[-20000:])


class Sluice:
    """One daemon process. start() waits until /health answers."""

    def __init__(self, data_dir=None, args=(), config=None, binary=None, log_path=None, env=None):
        self.port = free_port()
        self.env = env or {}
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="sluice-it-")
        self.args = list(args)
        self.config = config
        self.binary = binary or SLUICE_BIN
        self.proc = None
        self.log_path = log_path or os.path.join(tempfile.gettempdir(), "sluice-it-%d.log" % self.port)
        try:  # a log left by an earlier run on the same port is not this daemon's
            os.unlink(self.log_path)
        except OSError:
            pass

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        cmd = [self.binary, "serve", "--port", str(self.port), "--data", self.data_dir] + self.args
        if self.config:
            cmd += ["--config", self.config]
        self.log = open(self.log_path, "ab")
        env = dict(os.environ, **self.env)
        if ASAN:
            env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66")
        if VALGRIND:
            cmd = VALGRIND_CMD + cmd
            timeout = max(timeout, 60.0)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sluice exited with %s; log:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                urllib.request.urlopen(self.endpoint + "/health", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("sluice did not become ready; log:\n" + self.read_log())

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Stops the daemon; returns its exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc

    def stop_checked(self):
        """stop(), cleanup(), then check_exit on its status and log."""
        rc = self.stop()
        log = self.read_log()
        self.cleanup()
        check_exit(rc, log)

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        try:
            os.unlink(self.log_path)
        except OSError:
            pass

    def client(self, service="sqs", **cfg):
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id="AKIDSLUICETEST", aws_secret_access_key="secret",
            config=Config(retries={"max_attempts": 0}, **cfg))


class SluiceTestCase(unittest.TestCase):
    """A daemon per test class; self.sqs is a client of this interpreter's protocol."""

    daemon_args = ()

    @classmethod
    def setUpClass(cls):
        cls.sluice = Sluice(args=cls.daemon_args).start()
        cls.sqs = cls.sluice.client()

    @classmethod
    def tearDownClass(cls):
        cls.sluice.stop_checked()

    def queue(self, name, **attrs):
        """Creates a queue with a name unique to the test and returns its URL."""
        fifo = name.endswith(".fifo")
        base = name[:-5] if fifo else name
        full = ("%s-%s" % (base, self.id().split(".")[-1]))[:70] + (".fifo" if fifo else "")
        if fifo:
            attrs.setdefault("FifoQueue", "true")
        return self.sqs.create_queue(QueueName=full, Attributes={k: str(v) for k, v in attrs.items()})["QueueUrl"]

    def assertAwsError(self, code, fn, *args, **kwargs):
        """Calls fn and asserts it fails with the given error code; returns the error dict."""
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(*args, **kwargs)
        err = cm.exception.response["Error"]
        self.assertEqual(err["Code"], code, err)
        return cm.exception.response


class ConfigDaemonCase(unittest.TestCase):
    """One daemon for the whole class, started on the config file CONFIG names,
    or on CONFIG_TEXT written to a file in the class's own directory (cls.dir,
    removed after); set by the subclass. self.sluice and self.ep are the
    daemon and its endpoint."""

    CONFIG = None
    CONFIG_TEXT = None

    @classmethod
    def config_text(cls):
        """The text to write; a subclass may make it (files in cls.dir exist by then)."""
        return cls.CONFIG_TEXT

    @classmethod
    def setUpClass(cls):
        config = cls.CONFIG
        cls.dir = None
        if config is None:
            cls.dir = tempfile.mkdtemp(prefix="sluice-cfg-")
            config = os.path.join(cls.dir, "sluice.yaml")
            text = cls.config_text()
            with open(config, "w") as f:
                f.write(text)
        cls.sluice = Sluice(config=config).start(timeout=30)
        cls.ep = cls.sluice.endpoint

    @classmethod
    def tearDownClass(cls):
        cls.sluice.stop_checked()
        if cls.dir:
            shutil.rmtree(cls.dir, ignore_errors=True)
