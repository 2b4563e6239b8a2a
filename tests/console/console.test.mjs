/*
 * The web console end to end: the real build/sluice on a free loopback port
 * with its own data directory and a config with queues (one pair with a
 * redrive policy and no consumer, one fed to a function through a gateway
 * route), a topic with a filtered SQS subscription; traffic made with plain
 * HTTP calls; Debian's chromium (headless, driven by playwright-core) opens
 * each view and checks what it shows; Redrive empties the dead-letter queue
 * into its source. Each view's screenshot goes to $CONSOLE_SHOTS (default
 * build/console-shots; `make console-shots` writes docs/console/).
 *
 * Without chromium every test is skipped, with a message. How the files
 * are served (types, policy, HEAD, 404s) is tests/integration/test_console.py.
 */
import {test, before, after} from "node:test";
import assert from "node:assert/strict";
import {spawn} from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {fileURLToPath} from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = path.resolve(process.env.SLUICE_BIN || path.join(ROOT, "build", "sluice"));
const WORKERS = path.join(path.dirname(BIN), "examples", "workers.so");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = path.resolve(ROOT, process.env.CONSOLE_SHOTS || path.join("build", "console-shots"));
const WAIT_MS = 20000; /* a generous bound for anything the page or the daemon does */

const CONFIG = `
queues:
  - name: orders-dlq
  - name: orders
    redrive: { dead_letter_queue: orders-dlq, max_receive_count: 1 }
  - name: parked
  - name: division-dlq
  - name: division
    attributes: { VisibilityTimeout: 1 }
    redrive: { dead_letter_queue: division-dlq, max_receive_count: 1 }
topics:
  - name: rides
    subscriptions:
      - queue: parked
        filter_policy: { kind: [ride], fare: [{ numeric: [">", 10] }] }
tables:
  - name: results
    partition_key: requestId
    ttl_attribute: expiresAt
functions:
  - name: division
    handler: ${WORKERS}:division
mappings:
  - function: division
    queue: division
    batch_size: 1
    report_batch_item_failures: true
    on_success: table:results
    on_failure: table:results
gateway:
  results_table: results
  routes:
    - { method: POST, path: /calc, integration: enqueue, queue: division }
`;

/* An HTML payload: the console must show it as text and never run it. */
const HOSTILE = '<img src=x onerror="window.__owned=1"><b>bold?</b>';

const skip = !fs.existsSync(CHROMIUM) ? `no chromium at ${CHROMIUM} (apt-get install chromium)` : false;
if (skip) console.log(`# console tests skipped: ${skip}`);

let dir, daemon, endpoint, browser, page, log = "";
const pageErrors = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const {port} = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function sqs(action, body) {
  const r = await fetch(endpoint + "/", {method: "POST", body: JSON.stringify(body),
    headers: {"X-Amz-Target": "AmazonSQS." + action, "Content-Type": "application/x-amz-json-1.0"}});
  const doc = await r.json();
  assert.ok(r.ok, `${action}: ${r.status} ${JSON.stringify(doc)}`);
  return doc;
}

async function queueUrl(name) {
  return (await sqs("GetQueueUrl", {QueueName: name})).QueueUrl;
}

async function counts(name) {
  const a = (await sqs("GetQueueAttributes", {QueueUrl: await queueUrl(name), AttributeNames: ["All"]})).Attributes;
  return [Number(a.ApproximateNumberOfMessages), Number(a.ApproximateNumberOfMessagesNotVisible)];
}

/* Polls fn until it returns a truthy value; bounded. */
async function eventually(what, fn) {
  const end = Date.now() + WAIT_MS;
  for (let i = 0; Date.now() < end; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(200);
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function startDaemon() {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-console-"));
  const config = path.join(dir, "sluice.yaml");
  fs.writeFileSync(config, CONFIG);
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  daemon = spawn(BIN, ["serve", "--port", String(port), "--data", path.join(dir, "data"), "--config", config],
    {stdio: ["ignore", "pipe", "pipe"]});
  daemon.stdout.on("data", (b) => { log += b; });
  daemon.stderr.on("data", (b) => { log += b; });
  await eventually("the daemon's /health", async () => {
    if (daemon.exitCode !== null) assert.fail(`sluice exited ${daemon.exitCode}:\n${log}`);
    try { return (await fetch(endpoint + "/health")).ok; } catch (e) { return false; }
  });
}

/* The traffic each view shows. */
async function makeTraffic() {
  /* orders: one message dead-lettered (received twice, maxReceiveCount 1) */
  const orders = await queueUrl("orders");
  await sqs("SendMessage", {QueueUrl: orders, MessageBody: HOSTILE, MessageAttributes: {
    note: {DataType: "String", StringValue: "<script>window.__owned=2</script>"}}});
  assert.equal((await sqs("ReceiveMessage", {QueueUrl: orders, VisibilityTimeout: 0})).Messages.length, 1);
  assert.equal((await sqs("ReceiveMessage", {QueueUrl: orders, VisibilityTimeout: 0})).Messages, undefined);
  assert.deepEqual(await counts("orders-dlq"), [1, 0]);
  /* gateway: one request that succeeds, one that is dead-lettered */
  const calc = async (body) => {
    const r = await fetch(endpoint + "/calc", {method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json"}});
    assert.equal(r.status, 202);
    return (await r.json()).requestId;
  };
  const ok = await calc({operation: "division", number: 10, divisor: 2});
  const bad = await calc({operation: "division", number: 1, divisor: 0});
  for (const [id, want] of [[ok, "SUCCEEDED"], [bad, "DEAD_LETTERED"]]) {
    await eventually(`request ${id} ${want}`, async () =>
      (await (await fetch(`${endpoint}/_sluice/requests/${id}`)).json()).status === want);
  }
  return {ok, bad};
}

async function shot(name) {
  fs.mkdirSync(SHOTS, {recursive: true});
  await page.screenshot({path: path.join(SHOTS, name + ".png"), fullPage: true});
}

async function open(hash) {
  await page.goto(`${endpoint}/_sluice/console/${hash}`);
}

/* The cells' text of the row that matches selector. */
async function rowCells(selector) {
  await page.waitForSelector(selector, {timeout: WAIT_MS});
  return page.$$eval(`${selector} td`, (tds) => tds.map((td) => td.textContent.trim()));
}

let ids;

before(async () => {
  if (skip) return;
  await startDaemon();
  ids = await makeTraffic();
  const {chromium} = await import("playwright-core");
  const args = process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [];
  browser = await chromium.launch({executablePath: CHROMIUM, headless: true, args});
  page = await browser.newPage({viewport: {width: 1280, height: 720}});
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text() + " " + m.location().url); });
});

after(async () => {
  if (browser) await browser.close();
  if (daemon && daemon.exitCode === null) {
    daemon.kill("SIGTERM");
    await eventually("the daemon to exit", () => daemon.exitCode !== null);
  }
  if (dir) fs.rmSync(dir, {recursive: true, force: true});
});

test("queues: depth, dead-letter target, refreshed while open", {skip}, async () => {
  await open("#queues");
  assert.deepEqual((await rowCells('#queues tr[data-queue="orders"]')).slice(0, 6),
    ["orders", "0", "0", "0", "orders-dlq", "1"]);
  assert.deepEqual((await rowCells('#queues tr[data-queue="orders-dlq"]')).slice(0, 5),
    ["orders-dlq", "1", "0", "0", "-"]);
  /* live: two messages sent while the page is open show up without a reload */
  const url = await queueUrl("parked");
  await sqs("SendMessage", {QueueUrl: url, MessageBody: "one"});
  await sqs("SendMessage", {QueueUrl: url, MessageBody: "two", DelaySeconds: 900});
  await page.waitForFunction(() => {
    const tds = document.querySelectorAll('#queues tr[data-queue="parked"] td');
    return tds.length && tds[1].textContent === "1" && tds[3].textContent === "1";
  }, null, {timeout: WAIT_MS});
  await shot("queues");
});

test("topics: subscriptions with their filter policies", {skip}, async () => {
  await open("#topics");
  const cells = await rowCells('table[data-topic="rides"] tbody tr');
  assert.equal(cells[0], "sqs");
  assert.match(cells[1], /^arn:aws:sqs:.*:parked$/);
  const policy = JSON.parse(cells[4]);
  assert.deepEqual(policy.kind, ["ride"]);
  assert.deepEqual(policy.fare, [{numeric: [">", 10]}]);
  await shot("topics");
});

test("functions: configuration and mappings with state", {skip}, async () => {
  await open("#functions");
  const fn = await rowCells("#functions tbody tr");
  assert.equal(fn[0], "division");
  assert.match(fn[2], /workers\.so:division$/);
  assert.equal(fn[6], "division");
  const m = await rowCells("#mappings tbody tr");
  assert.deepEqual(m.slice(0, 5), ["division", "division", "Enabled", "1", "ReportBatchItemFailures"]);
  assert.equal(m[5], "table:results");
  await shot("functions");
});

test("requests: recent records with status, and one record's detail", {skip}, async () => {
  await open("#requests");
  const ok = await rowCells(`#requests tr[data-request="${ids.ok}"]`);
  assert.deepEqual(ok.slice(1, 3), ["SUCCEEDED", "POST /calc"]);
  const bad = await rowCells(`#requests tr[data-request="${ids.bad}"]`);
  assert.equal(bad[1], "DEAD_LETTERED");
  assert.match(bad[5], /division by zero/);
  await page.click(`#requests tr[data-request="${ids.bad}"] a`);
  await page.waitForSelector("#request-detail pre", {timeout: WAIT_MS});
  const detail = JSON.parse(await page.textContent("#request-detail pre"));
  assert.equal(detail.requestId, ids.bad);
  assert.equal(detail.status, "DEAD_LETTERED");
  await shot("requests");
});

test("trace: a request's hops from the gateway to its result, in time order", {skip}, async () => {
  await open(`#requests/${ids.ok}`);
  await page.click("#request-trace");
  await page.waitForSelector("#trace tbody tr td:nth-child(4)", {timeout: WAIT_MS});
  await page.waitForFunction(() => [...document.querySelectorAll("#trace tbody tr td:nth-child(4)")]
    .some((td) => td.textContent === "function.finished"), null, {timeout: WAIT_MS});
  const kinds = await page.$$eval("#trace tbody tr td:nth-child(4)", (tds) => tds.map((td) => td.textContent));
  const at = (k) => kinds.indexOf(k);
  for (const k of ["gateway.accepted", "queue.sent", "queue.received", "function.invoked", "table.written",
                   "function.finished"])
    assert.ok(at(k) >= 0, `${k} in ${kinds}`);
  assert.ok(at("gateway.accepted") < at("queue.sent") && at("queue.sent") < at("function.invoked") &&
            at("function.invoked") < at("function.finished"), kinds.join(" "));
  const firsts = await page.$$eval("#trace tbody tr td:nth-child(2)", (tds) => tds.map((td) => Number(td.textContent)));
  assert.deepEqual(firsts, [...firsts].sort((x, y) => x - y));
  await shot("trace");
  await open("#trace/no-such-id");
  await page.waitForSelector("#trace td.empty", {timeout: WAIT_MS});
});

test("trace: an untraced publish followed to the queue message it became", {skip}, async () => {
  const form = new URLSearchParams({Action: "Publish", TopicArn: "arn:aws:sns:us-east-1:000000000000:rides",
    Message: "a long ride", "MessageAttributes.entry.1.Name": "kind",
    "MessageAttributes.entry.1.Value.DataType": "String", "MessageAttributes.entry.1.Value.StringValue": "ride",
    "MessageAttributes.entry.2.Name": "fare", "MessageAttributes.entry.2.Value.DataType": "Number",
    "MessageAttributes.entry.2.Value.StringValue": "25"});
  const r = await fetch(endpoint + "/", {method: "POST", body: form.toString(),
    headers: {"Content-Type": "application/x-www-form-urlencoded"}});
  const text = await r.text();
  assert.ok(r.ok, text);
  const id = /<MessageId>([^<]+)<\/MessageId>/.exec(text)[1];
  await open(`#trace/${id}`);
  await page.waitForFunction(() => [...document.querySelectorAll("#trace tbody tr td:nth-child(4)")]
    .some((td) => td.textContent === "queue.sent"), null, {timeout: WAIT_MS});
  const rows = await page.$$eval("#trace tbody tr", (trs) => trs.map((tr) =>
    [...tr.querySelectorAll("td")].map((td) => td.textContent)));
  const delivered = rows.find((c) => c[3] === "subscription.delivered");
  const sent = rows.find((c) => c[3] === "queue.sent");
  assert.equal(sent[4], "parked");
  assert.equal(delivered[6], `sqs \u2192 ${sent[6]}`); /* the link names the queue message the hop led to */
});

test("dead letters: a gateway request's message with its record", {skip}, async () => {
  await open("#dlq/division-dlq");
  const card = await page.waitForSelector("#dlq-messages .message", {timeout: WAIT_MS});
  const request = await card.$eval("dd.request", (dd) => dd.textContent);
  assert.match(request, new RegExp(`^${ids.bad} DEAD_LETTERED division by zero$`));
  assert.deepEqual(JSON.parse(await card.$eval("pre.body", (p) => p.textContent)),
    {operation: "division", number: 1, divisor: 0});
  await shot("dlq-request");
});

test("dead letters: messages shown as text, redriven to their source", {skip}, async () => {
  await open("#dlq/orders-dlq");
  await page.waitForSelector("#dlq-messages .message", {timeout: WAIT_MS});
  assert.deepEqual(await page.$$eval("#dlq-pick option", (os) => os.map((o) => o.value)),
    ["division-dlq", "orders-dlq"]);
  const body = await page.textContent("#dlq-messages .message pre.body");
  assert.equal(body, HOSTILE);
  assert.match(await page.textContent("#dlq-messages .message table"), /<script>window.__owned=2<\/script>/);
  assert.equal(await page.$$eval("#dlq-messages img, #dlq-messages b, #dlq-messages script", (e) => e.length), 0);
  assert.equal(await page.evaluate(() => window.__owned), undefined);
  assert.ok(Number(await page.textContent("#dlq-messages .receive-count")) >= 2);
  await shot("dlq");

  await page.click("#redrive-button");
  await page.waitForFunction(() => /^COMPLETED, 1 of 1 moved/.test(document.querySelector(".move-status")
    ? document.querySelector(".move-status").textContent : ""), null, {timeout: WAIT_MS});
  await eventually("orders-dlq to empty", async () => (await counts("orders-dlq"))[0] === 0);
  assert.deepEqual(await counts("orders"), [1, 0]);
  const back = (await sqs("ReceiveMessage", {QueueUrl: await queueUrl("orders")})).Messages;
  assert.equal(back[0].Body, HOSTILE);
  await page.waitForFunction(() => document.querySelectorAll("#dlq-messages .message").length === 0, null,
    {timeout: WAIT_MS});
  await shot("dlq-redriven");
});

test("no script errors and no CSP violations on any view", {skip}, async () => {
  for (const v of ["#queues", "#topics", "#functions", "#requests", "#dlq"]) {
    await open(v);
    await page.waitForSelector("main h2", {timeout: WAIT_MS});
  }
  assert.deepEqual(pageErrors, []);
});

test("a view picked while another is loading is the one that stays", {skip}, async () => {
  /* the dead letters view is held in its ReceiveMessages while Functions is picked */
  const receive = (r) => (r.headers()["x-amz-target"] || "").endsWith(".ReceiveMessage");
  let pending = 0;
  const up = (r) => { if (receive(r)) pending++; };
  const down = (r) => { if (receive(r)) pending--; };
  page.on("request", up);
  page.on("requestfinished", down);
  page.on("requestfailed", down);
  await page.route(endpoint + "/", async (route) => {
    if (receive(route.request())) await sleep(1500);
    await route.continue();
  });
  try {
    await open("#topics"); /* from elsewhere: opening the page's own address again would not load it */
    await page.waitForSelector("main h2", {timeout: WAIT_MS});
    await Promise.all([page.waitForRequest(receive, {timeout: WAIT_MS}), open("#dlq")]);
    await page.evaluate(() => { location.hash = "#functions"; });
    await page.waitForSelector("#mappings", {timeout: WAIT_MS});
    /* no receive in progress for a second: the held view has had its answers */
    await eventually("the held view's receives", async () => {
      if (pending) return false;
      await sleep(1000);
      return pending === 0;
    });
    assert.equal(await page.textContent("main h2"), "Functions");
  } finally {
    await page.unroute(endpoint + "/");
    page.off("request", up);
    page.off("requestfinished", down);
    page.off("requestfailed", down);
  }
});
