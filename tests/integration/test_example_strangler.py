"""examples/strangler (seed 003) as its README runs it: legacy.py and the
daemon on examples/strangler/sluice.yaml, then the README's calls with
`sluice call` and curl — legacy paths answered by the legacy service through
proxy routes, sign-up (POST /users) accepted by Sluice with 202 and done by
the users worker, its result read by id; with the legacy service stopped,
its paths are 502 while sign-up goes on.

The YAML is used as it is (its worker path is relative to it). Only when
the legacy port it names (8081) is taken on this machine does the test run
a copy with another port and the worker's absolute path."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import REPO, WORKERS_SO, timeout  # noqa: E402
from sluice_harness import ASAN, SLUICE_BIN, Sluice, check_exit, free_port  # noqa: E402

EXAMPLE = os.path.join(REPO, "examples", "strangler")
YAML = os.path.join(EXAMPLE, "sluice.yaml")
LEGACY_PORT = 8081


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as legacy.py binds
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Example:
    """legacy.py and a daemon on the example's config."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-strangler-")
        self.config = YAML
        port = LEGACY_PORT
        if not port_free(LEGACY_PORT):  # someone else's 8081: a copy that differs only there
            port = free_port()
            with open(YAML) as f:
                text = f.read().replace("127.0.0.1:%d" % LEGACY_PORT, "127.0.0.1:%d" % port)
            text = text.replace("../../build/examples/workers.so", WORKERS_SO)
            self.config = os.path.join(self.tmp, "sluice.yaml")
            with open(self.config, "w") as f:
                f.write(text)
        self.legacy = subprocess.Popen([sys.executable, os.path.join(EXAMPLE, "legacy.py"), "--port", str(port)],
                                       stdout=subprocess.PIPE, text=True)
        line = self.legacy.stdout.readline()  # printed once it listens
        if "listening" not in line:
            self.close()
            raise RuntimeError("legacy.py did not start: %r" % line)
        self.sluice = Sluice(data_dir=os.path.join(self.tmp, "data"), config=self.config).start(timeout=timeout(10))

    def stop_legacy(self):
        if self.legacy.poll() is None:
            self.legacy.terminate()
            self.legacy.wait(10)
        self.legacy.stdout.close()

    def close(self):
        self.stop_legacy()
        rc, log = None, ""
        if getattr(self, "sluice", None):
            rc = self.sluice.stop()
            log = self.sluice.read_log()
            self.sluice.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc, log


class StranglerCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(WORKERS_SO):
            raise unittest.SkipTest("build/examples/workers.so is not built (make all)")
        cls.ex = Example()
        cls.endpoint = cls.ex.sluice.endpoint

    @classmethod
    def tearDownClass(cls):
        check_exit(*cls.ex.close())

    def call(self, *args):
        """`build/sluice call ARGS` against the example: (exit status, stdout, stderr)."""
        env = dict(os.environ, SLUICE_ENDPOINT=self.endpoint)
        env.pop("SLUICE_API_KEY", None)
        if ASAN:
            env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66")
        r = subprocess.run([SLUICE_BIN, "call"] + list(args), capture_output=True, text=True, env=env,
                           timeout=timeout(60))
        return r.returncode, r.stdout, r.stderr

    def answers(self, out):
        """The (status line, parsed body) pairs `sluice call` printed."""
        parts = re.split(r"^(HTTP/1\.1 [^\n]*)\n", out, flags=re.M)
        return [(parts[i], json.loads(parts[i + 1])) for i in range(1, len(parts) - 1, 2)]

    def curl(self, *args):
        r = subprocess.run(["curl", "-s", "--max-time", str(int(timeout(30)))] + list(args), capture_output=True,
                           timeout=timeout(40))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode()

    def sign_up(self, name, email):
        rc, out, err = self.call("POST", "/users", "-d", json.dumps({"name": name, "email": email}))
        self.assertEqual(rc, 0, out + err)
        (s1, accepted), (s2, final) = self.answers(out)
        self.assertEqual((s1, accepted["status"]), ("HTTP/1.1 202 Accepted", "ACCEPTED"))
        self.assertEqual((s2, final["status"], final["requestId"]), ("HTTP/1.1 200 OK", "SUCCEEDED",
                                                                     accepted["requestId"]))
        self.assertEqual((final["result"]["name"], final["result"]["email"], final["function"]),
                         (name, email, "users"))
        self.assertTrue(final["result"]["userId"])


@unittest.skipIf(shutil.which("curl") is None, "the README's calls use curl")
class Strangler(StranglerCase):
    def test_legacy_paths_through_sluice_call(self):
        rc, out, err = self.call("GET", "/users")
        self.assertEqual(rc, 0, out + err)
        [(status, doc)] = self.answers(out)
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual([u["name"] for u in doc["users"]][:2], ["Grace", "Linus"])
        rc, out, err = self.call("GET", "/orders/1001")
        self.assertEqual((rc, self.answers(out)[0][1]["items"]), (0, ["keyboard"]), out + err)
        rc, out, err = self.call("POST", "/orders", "-d", '{"userId":"1","items":["mouse"]}')
        [(status, order)] = self.answers(out)
        self.assertEqual((rc, status, order["items"], order["userId"]), (0, "HTTP/1.1 201 Created", ["mouse"], "1"))
        rc, out, err = self.call("GET", "/orders/" + order["id"])  # the legacy service kept it
        self.assertEqual((rc, self.answers(out)[0][1]), (0, order), out + err)

    def test_sign_up_is_served_by_sluice(self):
        self.sign_up("Ada", "ada@example.com")
        rc, out, err = self.call("POST", "/users", "-d", '{"name":"Ada"}')
        [(status, doc)] = self.answers(out)
        self.assertEqual((rc, status), (1, "HTTP/1.1 400 Bad Request"))
        self.assertEqual(doc["errors"], ["$.email: required property missing (required)"])

    def test_curl_calls(self):
        out = self.curl("-i", self.endpoint + "/users/2")
        head, _, body = out.replace("\r\n", "\n").partition("\n\n")
        self.assertTrue(head.startswith("HTTP/1.1 200 OK"), head)
        lines = head.split("\n")
        self.assertIn("Server: Sluice", lines)
        self.assertIn("X-Served-By: legacy", lines)
        self.assertEqual(json.loads(body), {"id": "2", "name": "Linus", "email": "linus@example.com"})
        accepted = json.loads(self.curl("-X", "POST", self.endpoint + "/users", "-H", "Content-Type: application/json",
                                        "-d", '{"name":"Alan","email":"alan@example.com"}'))
        self.assertEqual(accepted["status"], "ACCEPTED")
        self.assertEqual(accepted["statusUrl"], "/_sluice/requests/" + accepted["requestId"])
        final = json.loads(self.curl(self.endpoint + "/users/requests/%s?wait=10" % accepted["requestId"]))
        self.assertEqual((final["status"], final["result"]["name"]), ("SUCCEEDED", "Alan"))
        missing = json.loads(self.curl(self.endpoint + "/nope"))  # the legacy service's own 404
        self.assertEqual(missing, {"message": "legacy: nothing at /nope"})


class LegacyStopped(StranglerCase):
    def test_legacy_paths_fail_and_sign_up_goes_on(self):
        self.ex.stop_legacy()
        rc, out, err = self.call("GET", "/orders")
        [(status, doc)] = self.answers(out)
        self.assertEqual((rc, status, doc), (1, "HTTP/1.1 502 Bad Gateway", {"message": "Bad Gateway"}))
        self.sign_up("Barbara", "barbara@example.com")


if __name__ == "__main__":
    unittest.main()
