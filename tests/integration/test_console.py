"""The web console's files (docs/CONSOLE.md): served at /_sluice/console/
from the binary with their Content-Type and a Content-Security-Policy,
HEAD as GET without the body, only the known names (a path with dot
segments or another name is 404, sent as it is), read-only, and never taken
by a gateway catch-all route. The console's views are tested in a browser
by tests/console (make console-test)."""
import http.client
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_harness import Sluice  # noqa: E402

CONFIG = """
queues:
  - name: caught
gateway:
  routes:
    - { method: ANY, path: "/{proxy+}", integration: enqueue, queue: caught }
"""

FILES = {"": "text/html", "index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css",
         "favicon.svg": "image/svg+xml"}


class Console(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sluice-console-")
        config = os.path.join(cls.dir, "sluice.yaml")
        with open(config, "w") as f:
            f.write(CONFIG)
        cls.sluice = Sluice(data_dir=os.path.join(cls.dir, "data"), config=config).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sluice.stop_checked()
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def request(self, method, target, body=None):
        """(status, headers dict with lower-case names, body bytes); target sent as it is."""
        host = self.sluice.endpoint.split("//", 1)[1]
        c = http.client.HTTPConnection(host, timeout=30)
        try:
            c.request(method, target, body=body, headers={"Content-Type": "application/json"} if body else {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def test_files_with_type_and_policy(self):
        for name, ctype in FILES.items():
            status, h, body = self.request("GET", "/_sluice/console/" + name)
            self.assertEqual(status, 200, name)
            self.assertTrue(h["content-type"].startswith(ctype), (name, h["content-type"]))
            self.assertIn("default-src 'self'", h["content-security-policy"])
            self.assertEqual(h["x-content-type-options"], "nosniff")
            self.assertEqual(int(h["content-length"]), len(body))
            self.assertGreater(len(body), 0)
        _, _, index = self.request("GET", "/_sluice/console/")
        self.assertIn(b'<script src="app.js"', index)
        self.assertNotIn(b"<script>", index)  # nothing inline: the policy would refuse it

    def test_head_is_get_without_body(self):
        _, _, body = self.request("GET", "/_sluice/console/app.js")
        status, h, head_body = self.request("HEAD", "/_sluice/console/app.js")
        self.assertEqual((status, head_body), (200, b""))
        self.assertEqual(int(h["content-length"]), len(body))

    def test_only_known_names(self):
        for p in ["nope.js", "../../health", "./app.js", "%2e%2e/%2e%2e/health", "..%2f..%2fhealth", "app.js/",
                  "sub/app.js", "APP.JS", "app.js%00", "/app.js", "../console/app.js"]:
            status, h, _ = self.request("GET", "/_sluice/console/" + p)
            self.assertEqual(status, 404, p)
            self.assertIn("default-src 'self'", h["content-security-policy"])

    def test_bare_prefix_redirects_other_methods_refused(self):
        status, h, _ = self.request("GET", "/_sluice/console")
        self.assertEqual((status, h["location"]), (301, "/_sluice/console/"))
        for method in ("POST", "PUT", "DELETE"):
            status, h, _ = self.request(method, "/_sluice/console/app.js")
            self.assertEqual(status, 405, method)
            self.assertEqual(h["allow"], "GET, HEAD")

    def test_catch_all_route_does_not_take_the_console(self):
        status, _, body = self.request("POST", "/elsewhere", b'{"a": 1}')
        self.assertEqual(status, 202, body)  # the catch-all is there
        status, h, _ = self.request("GET", "/_sluice/console/")
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"].startswith("text/html"))


if __name__ == "__main__":
    unittest.main()
