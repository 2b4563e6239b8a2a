"""examples/users (seed 001) as its README walks it: the daemon runs on the
example's own sluice.yaml; POST /users answers 202 with the SQS messageId,
GET /status/{messageId} answers 404 until the worker has stored the user
and then {messageId, userId}, GET /users/{userId} answers the user; an
invalid body is 400 and an unknown user 404. Calls go through
`sluice call` (as the README shows) and plain HTTP (as its curl lines)."""
import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import BUILD, REPO, WORKERS_SO, timeout, wait_until  # noqa: E402
from sluice_harness import SluiceTestCase  # noqa: E402
from test_call import blocks, run_call  # noqa: E402

EXAMPLE = os.path.join(REPO, "examples", "users", "sluice.yaml")


def example_config(tmp):
    """The example's YAML as it is; a copy with the worker's path changed
    only when the examples are built elsewhere (SLUICE_EXAMPLES_BUILD)."""
    if os.path.realpath(BUILD) == os.path.realpath(os.path.join(REPO, "build")):
        return EXAMPLE
    with open(EXAMPLE) as f:
        text = f.read()
    path = os.path.join(tmp, "sluice.yaml")
    with open(path, "w") as f:
        f.write(text.replace("../../build/examples/workers.so", WORKERS_SO))
    return path


def http(s, method, path, body=None):
    """(status, parsed JSON body), as curl would see it."""
    req = urllib.request.Request(s.endpoint + path, method=method, data=body,
                                 headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout(30)) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class ExampleUsers(SluiceTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(WORKERS_SO):
            raise AssertionError("%s is missing: run `make` first" % WORKERS_SO)
        cls.tmp = tempfile.mkdtemp(prefix="sluice-users-")
        # the harness's --port and --data override the file's server.port and storage.data
        cls.daemon_args = ["--config", example_config(cls.tmp)]
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def call(self, *args):
        return run_call(*args, endpoint=self.sluice.endpoint)

    def wait_status(self, mid):
        """Polls GET /status/{messageId} until it answers 200."""
        def stored():
            p = self.call("GET", "/status/" + mid)
            return blocks(p.stdout)[0][1] if p.returncode == 0 else None
        got = wait_until(stored, timeout=timeout(20), step=0.1)
        if not got:
            self.fail("GET /status/%s never answered 200" % mid)
        return got

    def test_create_then_status_then_user(self):
        p = self.call("--no-wait", "POST", "/users", "-d", '{"name":"Ada","email":"ada@example.com"}')
        self.assertEqual(p.returncode, 0, p.stderr)
        [(status, accepted)] = blocks(p.stdout)
        self.assertEqual((status, accepted["status"]), (202, "ACCEPTED"))
        mid = accepted["messageId"]
        st = self.wait_status(mid)
        self.assertEqual(sorted(st), ["messageId", "userId"])
        self.assertEqual(st["messageId"], mid)
        p = self.call("GET", "/users/" + st["userId"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(blocks(p.stdout), [(200, {"name": "Ada", "email": "ada@example.com",
                                                   "userId": st["userId"], "messageId": mid})])

    def test_the_curl_lines(self):
        status, accepted = http(self.sluice, "POST", "/users", b'{"name":"Bo","email":"bo@example.com"}')
        self.assertEqual(status, 202, accepted)
        st = self.wait_status(accepted["messageId"])
        self.assertEqual(http(self.sluice, "GET", "/status/" + accepted["messageId"]), (200, st))
        status, user = http(self.sluice, "GET", "/users/" + st["userId"])
        self.assertEqual((status, user["name"], user["email"]), (200, "Bo", "bo@example.com"))

    def test_sluice_call_follows_the_request_to_the_user(self):
        """Without --no-wait, `sluice call` follows statusUrl: the worker's outcome
        reaches the request's record although its destination is the users
        table, and the record's result is the user."""
        p = self.call("POST", "/users", "-d", '{"name":"Cy","email":"cy@example.com"}')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        [(s1, accepted), (s2, final)] = blocks(p.stdout)
        self.assertEqual((s1, s2, final["status"], final["function"]), (202, 200, "SUCCEEDED", "create-user"))
        user = final["result"]
        self.assertEqual((user["name"], user["messageId"]), ("Cy", accepted["messageId"]))
        self.assertEqual(http(self.sluice, "GET", "/users/" + user["userId"]), (200, user))

    def test_invalid_body_is_400(self):
        p = self.call("POST", "/users", "-d", '{"name":"Ada"}')
        self.assertEqual(p.returncode, 1)
        [(status, doc)] = blocks(p.stdout)
        self.assertEqual((status, doc["message"]), (400, "Invalid request body"))
        self.assertIn("$.email", doc["errors"][0])
        status, doc = http(self.sluice, "POST", "/users", b'{"name":"Ada","email":"ada@example.com","admin":true}')
        self.assertEqual(status, 400)
        self.assertIn("$.admin", doc["errors"][0])

    def test_unknown_user_and_message_are_404(self):
        for path in ("/users/no-such-user", "/status/no-such-message"):
            p = self.call("GET", path)
            self.assertEqual(p.returncode, 1)
            self.assertEqual(blocks(p.stdout), [(404, {"message": "Not found"})])


if __name__ == "__main__":
    unittest.main()
