"""The gateway's synchronous integrations over HTTP: `item` routes read a
table's item by key or through a secondary index (with a projection),
`invoke` routes call a function and answer with its result (the request
body as the event, or API Gateway's proxy event with the proxy response
mapped onto the reply; function errors 502, timeouts 504, no free
concurrency 429; a client hanging up mid-call). Also: an enqueue route's
202 carries the SQS messageId, the per-key admin endpoint counts admitted
and throttled requests, and configs the daemon must refuse."""
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import BUILD, WORKERS_SO, FunctionsTestCase, queue_url, timeout  # noqa: E402
from sluice_harness import SLUICE_BIN, free_port  # noqa: E402
from test_gateway import sha  # noqa: E402

TESTFN_SO = os.path.join(BUILD, "tests", "plugins", "testfn.so")
GWFN_SO = os.path.join(BUILD, "tests", "plugins", "gwfn.so")
ROOMY = "roomy-client-key-0001"
TIGHT = "tight-client-key-0002"


CONFIG = """
queues:
  - name: users-in
  - name: inbox
tables:
  - name: users
    partition_key: userId
    indexes: [messageId, email]
functions:
  - name: create-user
    handler: %(workers)s:users
  - name: echo
    handler: %(testfn)s:echo
  - name: fail
    handler: %(testfn)s:fail
  - name: sleepy
    handler: %(testfn)s:sleepy
    timeout_ms: 300
  - name: one-at-a-time
    handler: %(testfn)s:sleepy
    concurrency: 1
    timeout: 20
  - name: respond
    handler: %(gwfn)s:respond
mappings:
  - function: create-user
    queue: users-in
    report_batch_item_failures: true
    on_success: items:users
gateway:
  usage_plans:
    - { name: roomy, rate: 1000, burst: 1000, quota: 100000, period: DAY }
    - { name: tight, rate: 0.5, burst: 2 }
  api_keys:
    - { name: roomy-client, hash: %(roomy)s, plan: roomy }
    - { name: tight-client, hash: %(tight)s, plan: tight }
  routes:
    - { method: GET, path: "/users/{userId}", integration: item, table: users, key: path.userId }
    - method: GET
      path: "/status/{messageId}"
      integration: item
      table: users
      index: messageId
      key: path.messageId
      fields: [messageId, userId, nothing]
    - { method: GET, path: /by-email, integration: item, table: users, index: email, key: query.email }
    - { method: GET, path: /me, integration: item, table: users, key: header.X-User-Id, api_key: true }
    - { method: POST, path: /inbox, integration: enqueue, queue: inbox, api_key: true }
    - { method: POST, path: /echo, integration: invoke, function: echo }
    - method: POST
      path: /echo-checked
      integration: invoke
      function: echo
      schema: { type: object, required: [n], properties: { n: { type: integer } } }
    - { method: POST, path: /fail, integration: invoke, function: fail }
    - { method: POST, path: /sleepy, integration: invoke, function: sleepy }
    - { method: POST, path: /one-at-a-time, integration: invoke, function: one-at-a-time }
    - { method: ANY, path: "/api/{proxy+}", integration: invoke, function: respond, payload: proxy }
"""


def call(s, method, path, body=None, headers=()):
    """(status, headers message, raw body bytes); headers is a list of pairs
    (a name may repeat)."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=timeout(60))
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        return r.status, r.msg, r.read()
    finally:
        conn.close()


def jcall(s, method, path, body=None, headers=()):
    """(status, headers message, parsed JSON body)."""
    status, h, raw = call(s, method, path, body, headers)
    return status, h, json.loads(raw) if raw else None


class GatewayItem(FunctionsTestCase):
    def setUp(self):
        super().setUp()
        for so in (TESTFN_SO, GWFN_SO, WORKERS_SO):
            self.assertTrue(os.path.exists(so), "%s is missing: run `make all unit` first" % so)

    def start(self):
        return self.daemon(CONFIG % {"workers": WORKERS_SO, "testfn": TESTFN_SO, "gwfn": GWFN_SO,
                                     "roomy": sha(ROOMY), "tight": sha(TIGHT)})

    # ---- item -------------------------------------------------------------------------------

    def add_user(self, s, user):
        """Sends the user through users-in (the seed's worker stores it) and
        returns the {messageId, userId} the status route shows once stored."""
        sqs = s.client()
        mid = sqs.send_message(QueueUrl=queue_url(sqs, "users-in"), MessageBody=json.dumps(user))["MessageId"]

        def stored():
            status, _, doc = jcall(s, "GET", "/status/" + mid)
            return doc if status == 200 else None
        return self.wait(stored, 20, "the user of message %s" % mid)

    def test_item_by_key_through_an_index_and_projected(self):
        s = self.start()
        ada = self.add_user(s, {"name": "Ada", "email": "ada@example.com"})
        bob = self.add_user(s, {"name": "Bob", "email": "bob@example.com"})
        # the status route: the index on messageId, projected to two fields (a third the item lacks)
        self.assertEqual(sorted(ada), ["messageId", "userId"])
        self.assertNotEqual(ada["userId"], bob["userId"])
        # by partition key: the whole item
        status, h, user = jcall(s, "GET", "/users/" + ada["userId"])
        self.assertEqual(status, 200, user)
        self.assertEqual(h["Content-Type"], "application/json")
        self.assertEqual(user, {"name": "Ada", "email": "ada@example.com", "userId": ada["userId"],
                                "messageId": ada["messageId"]})
        # another index, the key from the query string
        status, _, user = jcall(s, "GET", "/by-email?email=bob%40example.com")
        self.assertEqual((status, user["userId"]), (200, bob["userId"]))
        # the key from a header, behind an API key
        status, _, user = jcall(s, "GET", "/me", headers=[("x-api-key", ROOMY), ("X-User-Id", bob["userId"])])
        self.assertEqual((status, user["name"]), (200, "Bob"))
        self.assertEqual(jcall(s, "GET", "/me", headers=[("X-User-Id", bob["userId"])])[0], 403)

    def test_item_absent_is_404_and_a_missing_key_400(self):
        s = self.start()
        self.add_user(s, {"name": "Cy", "email": "cy@example.com"})
        self.assertEqual(jcall(s, "GET", "/users/no-such-user")[::2], (404, {"message": "Not found"}))
        self.assertEqual(jcall(s, "GET", "/status/no-such-message")[::2], (404, {"message": "Not found"}))
        self.assertEqual(jcall(s, "GET", "/by-email?email=nobody%40example.com")[0], 404)
        status, _, doc = jcall(s, "GET", "/by-email")
        self.assertEqual(status, 400)
        self.assertIn("query.email", doc["message"])
        self.assertEqual(jcall(s, "GET", "/by-email?email=")[0], 400)
        self.assertEqual(jcall(s, "GET", "/me", headers=[("x-api-key", ROOMY)])[0], 400)
        status, h, _ = jcall(s, "POST", "/users/x", {})
        self.assertEqual((status, h["Allow"]), (405, "GET"))

    # ---- enqueue's messageId and the keys endpoint ---------------------------------------------------

    def test_enqueue_202_carries_the_message_id(self):
        s = self.start()
        status, _, doc = jcall(s, "POST", "/inbox", {"n": 1},
                               [("x-api-key", ROOMY), ("Idempotency-Key", "one")])
        self.assertEqual(status, 202, doc)
        self.assertEqual(sorted(doc), ["acceptedAt", "deadline", "messageId", "requestId", "status", "statusUrl"])
        sqs = s.client()
        msgs = sqs.receive_message(QueueUrl=queue_url(sqs, "inbox"), MessageAttributeNames=["All"])["Messages"]
        self.assertEqual(msgs[0]["MessageId"], doc["messageId"])
        self.assertEqual(msgs[0]["MessageAttributes"]["requestId"]["StringValue"], doc["requestId"])
        status, _, rec = jcall(s, "GET", doc["statusUrl"])
        self.assertEqual((status, rec["messageId"]), (202, doc["messageId"]))
        # the same request again: the same ids, nothing sent again
        again = jcall(s, "POST", "/inbox", {"n": 1}, [("x-api-key", ROOMY), ("Idempotency-Key", "one")])[2]
        self.assertEqual((again["requestId"], again["messageId"]), (doc["requestId"], doc["messageId"]))

    def test_keys_endpoint_counts_admitted_and_throttled(self):
        s = self.start()
        codes = [jcall(s, "POST", "/inbox", {"n": i}, [("x-api-key", TIGHT)])[0] for i in range(3)]
        self.assertEqual(codes, [202, 202, 429])  # burst 2, then 0.5/s
        for i in range(4):
            self.assertEqual(jcall(s, "POST", "/inbox", {"n": i}, [("x-api-key", ROOMY)])[0], 202)
        status, h, raw = call(s, "GET", "/_sluice/gateway/keys")
        self.assertEqual((status, h["Content-Type"]), (200, "application/json"))
        for secret in (ROOMY, TIGHT):  # neither the key nor its hash
            self.assertNotIn(secret, raw.decode())
            self.assertNotIn(sha(secret)[7:], raw.decode())
        keys = {k["name"]: k for k in json.loads(raw)["keys"]}
        roomy, tight = keys["roomy-client"], keys["tight-client"]
        self.assertEqual((tight["plan"], tight["enabled"], tight["admitted"], tight["throttled"], tight["overQuota"]),
                         ("tight", True, 2, 1, 0))
        self.assertEqual((tight["throttle"]["rate"], tight["throttle"]["burst"], tight["throttle"]["tokens"]),
                         (0.5, 2, 0))
        self.assertIsNone(tight["quota"])
        self.assertEqual((roomy["admitted"], roomy["throttled"]), (4, 0))
        self.assertEqual((roomy["quota"]["limit"], roomy["quota"]["used"], roomy["quota"]["remaining"]),
                         (100000, 4, 99996))
        self.assertEqual(roomy["quota"]["period"], "DAY")
        self.assertEqual(call(s, "POST", "/_sluice/gateway/keys", b"")[0], 405)

    # ---- invoke, body payload ------------------------------------------------------------------------

    def test_invoke_answers_with_the_result(self):
        s = self.start()
        status, h, doc = jcall(s, "POST", "/echo", {"a": [1, 2], "b": "x"})
        self.assertEqual((status, doc), (200, {"a": [1, 2], "b": "x"}))
        self.assertEqual(h["Content-Type"], "application/json")
        self.assertEqual(jcall(s, "POST", "/echo", b"")[::2], (200, {}))
        status, _, doc = jcall(s, "POST", "/echo", b"{not json")
        self.assertEqual((status, doc["message"]), (400, "Invalid request body"))
        status, _, doc = jcall(s, "POST", "/echo-checked", {"n": "one"})
        self.assertEqual(status, 400)
        self.assertIn("$.n", doc["errors"][0])
        self.assertEqual(jcall(s, "POST", "/echo-checked", {"n": 1})[::2], (200, {"n": 1}))

    def test_function_error_is_502_with_its_error(self):
        s = self.start()
        status, _, doc = jcall(s, "POST", "/fail", {})
        self.assertEqual((status, doc), (502, {"errorMessage": "boom", "errorType": "Boom"}))

    def test_function_timeout_is_504(self):
        s = self.start()
        status, _, doc = jcall(s, "POST", "/sleepy", {"ms": 1500})
        self.assertEqual((status, doc), (504, {"message": "Endpoint request timed out"}))

    def test_no_free_concurrency_is_429(self):
        s = self.start()
        got = []
        ths = [threading.Thread(target=lambda: got.append(jcall(s, "POST", "/one-at-a-time", {"ms": 1500})))
               for _ in range(2)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(timeout(30))
        self.assertEqual(sorted((g[0], g[2]) for g in got),
                         [(200, {}), (429, {"message": "Too Many Requests"})])
        self.assertEqual(jcall(s, "POST", "/one-at-a-time", {"ms": 1})[0], 200)  # the slot is free again

    def test_client_hanging_up_mid_call(self):
        s = self.start()
        body = json.dumps({"ms": 700}).encode()
        with socket.create_connection(("127.0.0.1", s.port)) as c:
            c.sendall(b"POST /one-at-a-time HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.2)  # the call is running
        # the forgotten call ends on its own; then the one slot serves again
        self.wait(lambda: jcall(s, "POST", "/one-at-a-time", {"ms": 1})[0] == 200, 20, "the slot of the dropped call")
        self.assertEqual(jcall(s, "POST", "/echo", {"still": "up"})[::2], (200, {"still": "up"}))

    # ---- invoke, proxy payload -----------------------------------------------------------------------

    def test_proxy_event_shape(self):
        s = self.start()
        status, h, raw = call(s, "GET", "/api/a/b%20c?x=1&x=2&y=3",
                              headers=[("X-Multi", "1"), ("X-Multi", "2"), ("User-Agent", "probe/1")])
        self.assertEqual(status, 200, raw)
        ev = json.loads(raw)
        self.assertEqual(ev["resource"], "/api/{proxy+}")
        self.assertEqual(ev["path"], "/api/a/b%20c")
        self.assertEqual(ev["httpMethod"], "GET")
        self.assertEqual(ev["pathParameters"], {"proxy": "a/b c"})
        self.assertEqual(ev["queryStringParameters"], {"x": "2", "y": "3"})
        self.assertEqual(ev["multiValueQueryStringParameters"], {"x": ["1", "2"], "y": ["3"]})
        self.assertEqual(ev["headers"]["X-Multi"], "2")
        self.assertEqual(ev["multiValueHeaders"]["X-Multi"], ["1", "2"])
        self.assertIsNone(ev["body"])
        self.assertIs(ev["isBase64Encoded"], False)
        self.assertIsNone(ev["stageVariables"])
        rc = ev["requestContext"]
        self.assertEqual(rc["requestId"], h["x-amzn-RequestId"])
        self.assertEqual((rc["resourcePath"], rc["httpMethod"], rc["path"]), ("/api/{proxy+}", "GET", "/api/a/b%20c"))
        self.assertEqual((rc["identity"]["sourceIp"], rc["identity"]["userAgent"]), ("127.0.0.1", "probe/1"))
        self.assertLessEqual(abs(rc["requestTimeEpoch"] / 1000 - time.time()), 60)
        # a text body as it is; one that is not UTF-8 as base64
        ev = json.loads(call(s, "POST", "/api/t", b'{"k": "v"}')[2])
        self.assertEqual((ev["body"], ev["isBase64Encoded"], ev["queryStringParameters"]), ('{"k": "v"}', False, None))
        ev = json.loads(call(s, "PUT", "/api/bin", b"\xff\x00\x01")[2])
        self.assertEqual((ev["httpMethod"], ev["isBase64Encoded"]), ("PUT", True))
        self.assertEqual(base64.b64decode(ev["body"]), b"\xff\x00\x01")

    def respond(self, s, response):
        return call(s, "POST", "/api/r", {"respond": response})

    def test_proxy_response_mapped_onto_the_reply(self):
        s = self.start()
        status, h, raw = self.respond(s, {
            "statusCode": 201, "body": "hello",
            "headers": {"X-One": "1", "Content-Type": "text/plain", "Content-Length": "999", "X-Num": 7},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-One": ["multi"]}})
        self.assertEqual((status, raw), (201, b"hello"))
        self.assertEqual(h["Content-Type"], "text/plain")
        self.assertEqual(h["Content-Length"], "5")  # the server frames the reply, not the function
        self.assertEqual(h.get_all("Set-Cookie"), ["a=1", "b=2"])
        self.assertEqual(h.get_all("X-One"), ["multi"])  # multiValueHeaders win over headers
        self.assertEqual(h["X-Num"], "7")
        status, h, raw = self.respond(s, {"statusCode": 200, "isBase64Encoded": True,
                                          "body": base64.b64encode(b"\x00\xffbin").decode()})
        self.assertEqual((status, raw, h["Content-Type"]), (200, b"\x00\xffbin", "application/json"))
        status, _, raw = self.respond(s, {"statusCode": 404})
        self.assertEqual((status, raw), (404, b""))

    def test_malformed_proxy_response_is_502(self):
        s = self.start()
        for bad in ({"body": "no status"}, {"statusCode": "200"}, {"statusCode": 99}, {"statusCode": 700},
                    {"statusCode": 200, "body": {"an": "object"}},
                    {"statusCode": 200, "headers": {"X-Bad": "a\r\nInjected: yes"}},
                    {"statusCode": 200, "headers": {"Bad Name": "v"}},
                    {"statusCode": 200, "headers": {"X-List": ["a"]}},
                    {"statusCode": 200, "multiValueHeaders": {"X-M": "not a list"}},
                    {"statusCode": 200, "isBase64Encoded": True, "body": "***"},
                    "just a string", [1, 2]):
            status, h, raw = self.respond(s, bad)
            self.assertEqual((status, json.loads(raw)), (502, {"message": "Internal server error"}), bad)
            self.assertIsNone(h.get("Injected"))


class GatewayItemConfig(FunctionsTestCase):
    """Item and invoke routes the daemon refuses to start with, naming the problem."""

    HEAD = """queues:
  - name: q
tables:
  - { name: tab, partition_key: id, indexes: [email] }
  - { name: sorted, partition_key: id, sort_key: at, indexes: [ref] }
functions:
  - { name: fn, handler: %s:echo }
gateway:
  routes:
""" % TESTFN_SO

    def refuse(self, route, needle):
        path = self.write("bad.yaml", self.HEAD + "    - " + route + "\n")
        r = subprocess.run([SLUICE_BIN, "serve", "--port", str(free_port()), "--data", os.path.join(self.dir, "d"),
                            "--config", path], capture_output=True, text=True, timeout=timeout(20))
        self.assertNotEqual(r.returncode, 0, route)
        self.assertIn(needle, r.stderr + r.stdout)

    def test_refused_item_and_invoke_routes(self):
        self.refuse("{ path: '/a/{id}', integration: item, table: nope, key: path.id }", "no table named nope")
        self.refuse("{ path: '/a/{id}', integration: item, key: path.id }", "an item route needs table")
        self.refuse("{ path: '/a/{id}', integration: item, table: tab, index: name, key: path.id }",
                    "table tab has no index on name")
        self.refuse("{ path: '/a/{id}', integration: item, table: sorted, key: path.id }", "has a sort key")
        self.refuse("{ path: '/a/{id}', integration: item, table: tab }", "key must be header.<name>")
        self.refuse("{ path: '/a/{id}', integration: item, table: tab, key: body.id }", "key must be header.<name>")
        self.refuse("{ path: '/a/{id}', integration: item, table: tab, key: path.userId }", "the path has no {userId}")
        self.refuse("{ path: '/a/{id}', integration: item, table: tab, key: path.id, fields: [a, b, a] }",
                    "fields lists a twice")
        self.refuse("{ path: /f, integration: invoke, function: nope }", "no function named nope")
        self.refuse("{ path: /f, integration: invoke }", "an invoke route needs function")
        self.refuse("{ path: /f, integration: invoke, function: fn, payload: xml }", "payload must be body or proxy")
        self.refuse("{ path: /f, integration: teleport }",
                    "integration must be publish, enqueue, result, item, invoke or proxy")

    def test_a_good_config_starts(self):
        s = self.daemon(self.HEAD + "    - { method: GET, path: '/a/{id}', integration: item, table: tab, key: path.id }\n"
                        "    - { path: '/s/{ref}', integration: item, table: sorted, index: ref, key: path.ref }\n"
                        "    - { path: /f, integration: invoke, function: fn, payload: proxy }\n")
        self.assertEqual(jcall(s, "GET", "/a/x")[0], 404)
