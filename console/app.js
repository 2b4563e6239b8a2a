/*
 * Sluice console. A client of the daemon that serves it, over the APIs any
 * AWS client uses (same origin): SQS (AWS JSON 1.0), SNS (query protocol,
 * XML answers), the Lambda REST API, the tables view (/_sluice/tables) and
 * the gateway's /_sluice/requests/{id}. Nothing here is rendered as HTML:
 * every value goes through textContent (el() below), so a message body or
 * an error text shows as the characters it is.
 */
"use strict";

const SNS_VERSION = "2010-03-31";
const REFRESH_MS = 2000;   /* the queues and requests views re-read this often */
const MAX_PAGES = 100;     /* listings follow their next-page tokens this far */
const MOVE_POLL_MS = 500;  /* a move task's progress is read this often */
const MOVE_POLL_MAX = 1200; /* ... at most this many times (10 minutes) */

/* ---- DOM ---------------------------------------------------------------------------------------- */

/* el("td", {class: "num"}, "3", childNode, ...): strings become text nodes. */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/* A table: head is a list of column titles; rows a list of lists of cells
 * (a string, a number, a Node, or {v, class}). */
function table(head, rows, empty, attrs) {
  const tbody = el("tbody", null);
  for (const r of rows) {
    tbody.append(el("tr", r.attrs || null, (r.cells || r).map(cell)));
  }
  if (!rows.length) tbody.append(el("tr", null, el("td", {class: "empty", colspan: head.length}, empty || "none")));
  return el("table", attrs || null, el("thead", null, el("tr", null, head.map((h) => el("th", null, h)))), tbody);
}

function cell(c) {
  if (c && typeof c === "object" && !(c instanceof Node)) return el("td", {class: c.class}, c.v);
  if (typeof c === "number") return el("td", {class: "num"}, String(c));
  return el("td", null, c === undefined || c === "" ? "-" : c);
}

function pill(text) {
  return el("span", {class: "pill " + String(text).replace(/[^A-Za-z_]/g, "")}, text);
}

/* JSON text shown indented when it parses, as it is otherwise. */
function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch (e) {
    return text;
  }
}

/* JSON text on one line when it parses, as it is otherwise. */
function compact(text) {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch (e) {
    return text;
  }
}

function setStatus(text, isError) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

function errorBox(err) {
  return el("div", {class: "error-box"}, String(err && err.message ? err.message : err));
}

/* The last segment of an ARN or a queue URL: a queue's, topic's or function's name. */
function lastName(s) {
  const t = String(s || "");
  return t.slice(Math.max(t.lastIndexOf(":"), t.lastIndexOf("/")) + 1);
}

/* ---- the wire ----------------------------------------------------------------------------------- */

/* An SQS action over AWS JSON 1.0; its answer, or throws with the error's code and message. */
async function sqs(action, body) {
  const r = await fetch("/", {
    method: "POST",
    headers: {"X-Amz-Target": "AmazonSQS." + action, "Content-Type": "application/x-amz-json-1.0"},
    body: JSON.stringify(body || {}),
  });
  const text = await r.text();
  let doc = {};
  try { doc = text ? JSON.parse(text) : {}; } catch (e) { doc = {message: text}; }
  if (!r.ok) {
    const code = lastName(String(doc.__type || r.status).replace(/#/g, ":"));
    throw new Error(action + ": " + code + ": " + (doc.message || doc.Message || r.statusText));
  }
  return doc;
}

/* An SNS action over the query protocol; the XML answer's document, or throws. */
async function sns(action, params) {
  const form = new URLSearchParams(Object.assign({Action: action, Version: SNS_VERSION}, params || {}));
  const r = await fetch("/", {
    method: "POST",
    headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: form.toString(),
  });
  const doc = new DOMParser().parseFromString(await r.text(), "application/xml");
  if (!r.ok) {
    throw new Error(action + ": " + xmlText(doc, "Code") + ": " + xmlText(doc, "Message"));
  }
  return doc;
}

function xmlText(node, tag) {
  const e = node.getElementsByTagName(tag)[0];
  return e ? e.textContent : "";
}

/* A GET of JSON (the Lambda API, the tables view); with allow404, null for a 404. */
async function getJSON(path, allow404) {
  const r = await fetch(path);
  if (allow404 && r.status === 404) return null;
  const text = await r.text();
  let doc = null;
  try { doc = JSON.parse(text); } catch (e) { doc = null; }
  if (!r.ok) throw new Error("GET " + path + ": " + r.status + ": " + ((doc && (doc.message || doc.Message)) || text));
  return doc;
}

/* ---- queues ------------------------------------------------------------------------------------- */

/* Every queue with its attributes: [{name, url, attrs, dlq}], by name. */
async function loadQueues() {
  const urls = [];
  let token;
  for (let page = 0; page < MAX_PAGES; page++) {
    const body = {MaxResults: 1000};
    if (token) body.NextToken = token;
    const r = await sqs("ListQueues", body);
    urls.push(...(r.QueueUrls || []));
    token = r.NextToken;
    if (!token) break;
  }
  const queues = await Promise.all(urls.map(async (url) => {
    const r = await sqs("GetQueueAttributes", {QueueUrl: url, AttributeNames: ["All"]});
    const attrs = r.Attributes || {};
    let redrive = null;
    try { redrive = attrs.RedrivePolicy ? JSON.parse(attrs.RedrivePolicy) : null; } catch (e) { redrive = null; }
    return {name: lastName(url), url, attrs, redrive};
  }));
  return queues.sort((a, b) => a.name.localeCompare(b.name));
}

/* The queues that some queue's redrive policy names as its dead-letter queue. */
function deadLetterQueues(queues) {
  const targets = new Set(queues.filter((q) => q.redrive).map((q) => q.redrive.deadLetterTargetArn));
  return queues.filter((q) => targets.has(q.attrs.QueueArn));
}

async function viewQueues(root, live) {
  const queues = await loadQueues();
  const dlqs = new Set(deadLetterQueues(queues).map((q) => q.name));
  const rows = queues.map((q) => ({attrs: {"data-queue": q.name}, cells: [
    q.name,
    Number(q.attrs.ApproximateNumberOfMessages || 0),
    Number(q.attrs.ApproximateNumberOfMessagesNotVisible || 0),
    Number(q.attrs.ApproximateNumberOfMessagesDelayed || 0),
    q.redrive ? lastName(q.redrive.deadLetterTargetArn) : "-",
    q.redrive ? Number(q.redrive.maxReceiveCount) : "-",
    dlqs.has(q.name) ? el("a", {href: "#dlq/" + encodeURIComponent(q.name)}, "dead letters") : "",
  ]}));
  root.replaceChildren(
    el("h2", null, "Queues"),
    el("p", {class: "note"}, "Messages visible, in flight (received, not yet deleted) and delayed, " +
       "as GetQueueAttributes reports them; re-read every " + REFRESH_MS / 1000 + " s."),
    table(["Queue", "Visible", "In flight", "Delayed", "Dead-letter queue", "Max receives", ""], rows,
          "no queues", {id: "queues"}));
  live.every(REFRESH_MS);
}

/* ---- topics ------------------------------------------------------------------------------------- */

async function snsList(action, params, member) {
  const out = [];
  let token;
  for (let page = 0; page < MAX_PAGES; page++) {
    const p = Object.assign({}, params);
    if (token) p.NextToken = token;
    const doc = await sns(action, p);
    out.push(...Array.from(doc.getElementsByTagName(member)));
    token = xmlText(doc, "NextToken");
    if (!token) break;
  }
  return out;
}

/* A subscription's attributes (an entry map) as an object. */
async function subscriptionAttributes(arn) {
  const doc = await sns("GetSubscriptionAttributes", {SubscriptionArn: arn});
  const attrs = {};
  for (const e of Array.from(doc.getElementsByTagName("entry"))) attrs[xmlText(e, "key")] = xmlText(e, "value");
  return attrs;
}

async function viewTopics(root) {
  const topics = (await snsList("ListTopics", {}, "member")).map((m) => xmlText(m, "TopicArn")).sort();
  const parts = [el("h2", null, "Topics"),
    el("p", {class: "note"}, "Each topic's subscriptions: protocol, endpoint and filter policy " +
       "(ListSubscriptionsByTopic, GetSubscriptionAttributes).")];
  for (const arn of topics) {
    const members = await snsList("ListSubscriptionsByTopic", {TopicArn: arn}, "member");
    const rows = [];
    for (const m of members) {
      const subArn = xmlText(m, "SubscriptionArn");
      const confirmed = subArn.startsWith("arn:");
      const attrs = confirmed ? await subscriptionAttributes(subArn) : {};
      const policy = attrs.FilterPolicy ? el("pre", {class: "filter-policy"}, compact(attrs.FilterPolicy)) : "none";
      rows.push([xmlText(m, "Protocol"), xmlText(m, "Endpoint"),
        confirmed ? "confirmed" : subArn, attrs.FilterPolicy ? (attrs.FilterPolicyScope || "MessageAttributes") : "-",
        policy, attrs.RawMessageDelivery === "true" ? "yes" : "no"]);
    }
    parts.push(el("h3", null, lastName(arn), " ", el("small", null, arn)),
      table(["Protocol", "Endpoint", "State", "Policy scope", "Filter policy", "Raw delivery"], rows,
            "no subscriptions", {"data-topic": lastName(arn)}));
  }
  if (!topics.length) parts.push(el("p", {class: "note"}, "No topics."));
  root.replaceChildren(...parts);
}

/* ---- functions ---------------------------------------------------------------------------------- */

async function lambdaList(path, key, marker) {
  const out = [];
  let next;
  for (let page = 0; page < MAX_PAGES; page++) {
    const doc = await getJSON(path + (next ? "?Marker=" + encodeURIComponent(next) : ""));
    out.push(...(doc[key] || []));
    next = doc[marker];
    if (!next) break;
  }
  return out;
}

function destination(d) {
  return d && d.Destination ? d.Destination : "-";
}

async function viewFunctions(root) {
  const fns = await lambdaList("/2015-03-31/functions/", "Functions", "NextMarker");
  const maps = await lambdaList("/2015-03-31/event-source-mappings/", "EventSourceMappings", "NextMarker");
  fns.sort((a, b) => a.FunctionName.localeCompare(b.FunctionName));
  const fnRows = fns.map((f) => [f.FunctionName, f.Runtime || "-", f.Handler || "-", Number(f.MemorySize),
    Number(f.Timeout), pill(f.State || "-"),
    maps.filter((m) => m.FunctionArn === f.FunctionArn).map((m) => lastName(m.EventSourceArn)).join(", ") || "-"]);
  const mapRows = maps.map((m) => [lastName(m.EventSourceArn), lastName(m.FunctionArn), pill(m.State),
    Number(m.BatchSize), (m.FunctionResponseTypes || []).join(", ") || "-",
    destination(m.DestinationConfig && m.DestinationConfig.OnSuccess),
    destination(m.DestinationConfig && m.DestinationConfig.OnFailure), m.UUID]);
  root.replaceChildren(
    el("h2", null, "Functions"),
    el("p", {class: "note"}, "Configuration as the Lambda API's ListFunctions gives it."),
    table(["Function", "Runtime", "Handler", "Memory (MB)", "Timeout (s)", "State", "Sources"], fnRows,
          "no functions", {id: "functions"}),
    el("h3", null, "Event source mappings"),
    table(["Queue", "Function", "State", "Batch size", "Response types", "On success", "On failure", "UUID"],
          mapRows, "no mappings", {id: "mappings"}));
}

/* ---- requests ----------------------------------------------------------------------------------- */

const REQUESTS_SHOWN = 50;
const REQUESTS_PAGE = 1000;
const REQUESTS_PAGES = 20;

async function holdsRecords(table) {
  const doc = await getJSON("/_sluice/tables/" + encodeURIComponent(table) + "?limit=1", true);
  const first = doc && doc.Items && doc.Items[0];
  return Boolean(first && first.acceptedAt && first.route);
}

/* The gateway's results table: "requests" when it holds records, else the
 * first table (in name order) whose first item is a record; null when none. */
async function resultsTable() {
  const names = ((await getJSON("/_sluice/tables")).Tables || []).slice(0, MAX_PAGES);
  if (names.includes("requests")) names.unshift("requests");
  for (const t of names) if (await holdsRecords(t)) return t;
  return null;
}

/* The status a reader sees: a pending record past its deadline is EXPIRED, as the gateway answers it. */
function seenStatus(rec) {
  const pending = rec.status === "ACCEPTED" || rec.status === "RUNNING";
  return pending && rec.deadline && Date.parse(rec.deadline) < Date.now() ? "EXPIRED" : rec.status;
}

function recordError(rec) {
  const e = rec.error || rec.lastError;
  if (!e) return "-";
  if (typeof e === "object" && e.errorMessage) return String(e.errorMessage);
  return typeof e === "string" ? e : JSON.stringify(e);
}

async function loadRecords(table) {
  const recs = [];
  let after;
  for (let page = 0; page < REQUESTS_PAGES; page++) {
    const q = "?limit=" + REQUESTS_PAGE + (after ? "&after=" + encodeURIComponent(after) : "");
    const doc = await getJSON("/_sluice/tables/" + encodeURIComponent(table) + q);
    const items = doc.Items || [];
    recs.push(...items);
    after = items.length ? items[items.length - 1].requestId : null;
    if (!doc.More || !after) break;
  }
  return recs.sort((a, b) => String(b.acceptedAt || "").localeCompare(String(a.acceptedAt || "")));
}

async function requestDetail(id) {
  const r = await fetch("/_sluice/requests/" + encodeURIComponent(id));
  const text = await r.text();
  return el("div", {class: "card", id: "request-detail"},
    el("h3", null, "Request ", id),
    el("p", {class: "note"}, "GET /_sluice/requests/" + id + " answered " + r.status + " · ",
       el("a", {href: "#trace/" + encodeURIComponent(id), id: "request-trace"}, "its trace")),
    el("pre", null, pretty(text)));
}

async function viewRequests(root, live, arg) {
  const tableName = await resultsTable();
  if (!tableName) {
    root.replaceChildren(el("h2", null, "Requests"),
      el("p", {class: "note"}, "No gateway request records yet (no table holds them: gateway.results_table)."));
    live.every(REFRESH_MS);
    return;
  }
  const recs = await loadRecords(tableName);
  const rows = recs.slice(0, REQUESTS_SHOWN).map((r) => ({
    attrs: {"data-request": r.requestId, class: r.requestId === arg ? "selected" : null},
    cells: [el("a", {href: "#requests/" + encodeURIComponent(r.requestId)}, r.requestId), pill(seenStatus(r)),
      r.route || "-", r.acceptedAt || "-", r.attempts === undefined ? "-" : Number(r.attempts), recordError(r)]}));
  const parts = [el("h2", null, "Requests"),
    el("p", {class: "note"}, "The gateway's request records in table " + tableName + ", newest first (" +
       Math.min(recs.length, REQUESTS_SHOWN) + " of " + recs.length + "); pick one for its record."),
    table(["Request", "Status", "Route", "Accepted", "Attempts", "Error"], rows, "no requests", {id: "requests"})];
  if (arg) parts.push(await requestDetail(arg));
  root.replaceChildren(...parts);
  live.every(REFRESH_MS);
}

/* ---- dead letters ------------------------------------------------------------------------------- */

const DLQ_RECEIVES = 10; /* a look receives at most this many times (10 messages each) */

/* The messages waiting in the queue, left in place: received with
 * VisibilityTimeout 0 until a receive brings fewer than ten or nothing new. */
async function peekMessages(url) {
  const seen = new Map();
  for (let i = 0; i < DLQ_RECEIVES; i++) {
    const r = await sqs("ReceiveMessage", {QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0,
      WaitTimeSeconds: 0, AttributeNames: ["All"], MessageSystemAttributeNames: ["All"],
      MessageAttributeNames: ["All"]});
    let fresh = 0;
    for (const m of r.Messages || []) {
      if (!seen.has(m.MessageId)) fresh++;
      seen.set(m.MessageId, m);
    }
    if (!fresh || (r.Messages || []).length < 10) break;
  }
  return Array.from(seen.values());
}

function attributeValue(a) {
  return a.StringValue !== undefined ? a.StringValue : a.BinaryValue !== undefined ? "(binary) " + a.BinaryValue : "";
}

/* The gateway request id a message carries (its requestId attribute), or null. */
function messageRequestId(m) {
  const a = m.MessageAttributes && m.MessageAttributes.requestId;
  return a && a.StringValue ? a.StringValue : null;
}

/* The request's record (GET /_sluice/requests/{id}), or null when there is none. */
async function requestRecord(id) {
  const r = await fetch("/_sluice/requests/" + encodeURIComponent(id));
  try { return r.status === 200 || r.status === 202 ? await r.json() : null; } catch (e) { return null; }
}

function requestCell(id, rec) {
  const link = el("a", {href: "#requests/" + encodeURIComponent(id)}, id);
  if (!rec) return el("dd", null, link);
  const err = recordError(rec);
  return el("dd", {class: "request"}, link, " ", pill(seenStatus(rec)), err !== "-" ? " " + err : "");
}

function messageCard(m, rec) {
  const sys = m.Attributes || {};
  const sent = sys.SentTimestamp ? new Date(Number(sys.SentTimestamp)).toISOString() : "-";
  const attrs = Object.entries(m.MessageAttributes || {}).sort().map(([k, a]) => [k, a.DataType, attributeValue(a)]);
  const reqId = messageRequestId(m);
  return el("div", {class: "card message", "data-message": m.MessageId},
    el("dl", null,
      el("dt", null, "Message"), el("dd", null, m.MessageId),
      el("dt", null, "Receive count"), el("dd", {class: "receive-count"}, sys.ApproximateReceiveCount || "-"),
      el("dt", null, "Sent"), el("dd", null, sent),
      reqId ? [el("dt", null, "Request"), requestCell(reqId, rec)] : null),
    attrs.length ? table(["Attribute", "Type", "Value"], attrs) : null,
    el("pre", {class: "body"}, pretty(m.Body)));
}

/* The last move task seen per dead-letter queue, {moved, total, text}: the
 * view is drawn again after a move, and shows how the last one ended. */
const moves = new Map();

function showMove(progress, m) {
  progress.querySelector("progress").max = Math.max(m.total, 1);
  progress.querySelector("progress").value = m.moved;
  progress.querySelector(".move-status").textContent = m.text;
}

/* Starts a move task from the queue back to its sources and follows it until it ends. */
async function redrive(q, progress, done) {
  const button = progress.querySelector("button");
  const note = (m) => { moves.set(q.name, m); showMove(progress, m); };
  button.disabled = true;
  try {
    await sqs("StartMessageMoveTask", {SourceArn: q.attrs.QueueArn});
    for (let i = 0; i < MOVE_POLL_MAX; i++) {
      const r = await sqs("ListMessageMoveTasks", {SourceArn: q.attrs.QueueArn, MaxResults: 1});
      const t = (r.Results || [])[0];
      if (t) {
        const moved = Number(t.ApproximateNumberOfMessagesMoved || 0);
        const total = Number(t.ApproximateNumberOfMessagesToMove || moved);
        note({moved, total, text: t.Status + ", " + moved + " of " + total + " moved" +
          (t.FailureReason ? " (" + t.FailureReason + ")" : "")});
        if (t.Status !== "RUNNING") break;
      }
      await new Promise((res) => setTimeout(res, MOVE_POLL_MS));
    }
  } catch (err) {
    note({moved: 0, total: 0, text: String(err.message || err)});
  }
  button.disabled = false;
  done();
}

async function viewDlq(root, live, arg) {
  const queues = await loadQueues();
  const dlqs = deadLetterQueues(queues);
  if (!dlqs.length) {
    root.replaceChildren(el("h2", null, "Dead letters"),
      el("p", {class: "note"}, "No queue is another queue's dead-letter queue (no redrive policy names one)."));
    return;
  }
  const q = dlqs.find((d) => d.name === arg) || dlqs[0];
  const sources = queues.filter((s) => s.redrive && s.redrive.deadLetterTargetArn === q.attrs.QueueArn);
  const pick = el("select", {id: "dlq-pick", onchange: (e) => { location.hash = "#dlq/" + encodeURIComponent(e.target.value); }},
    dlqs.map((d) => el("option", {value: d.name, selected: d.name === q.name}, d.name)));
  const progress = el("div", {class: "progress", id: "redrive"},
    el("button", {id: "redrive-button", onclick: () => redrive(q, progress, () => live.again())}, "Redrive to source"),
    el("progress", {max: 1, value: 0}), el("span", {class: "move-status"}, ""));
  if (moves.has(q.name)) showMove(progress, moves.get(q.name));
  const messages = await peekMessages(q.url);
  const records = await Promise.all(messages.map((m) => messageRequestId(m) ? requestRecord(messageRequestId(m)) : null));
  root.replaceChildren(
    el("h2", null, "Dead letters"),
    el("div", {class: "toolbar"}, el("label", {for: "dlq-pick"}, "Queue "), pick,
      el("button", {class: "plain", id: "dlq-poll", onclick: () => live.again()}, "Look again")),
    el("p", {class: "note"}, q.name + " is the dead-letter queue of " + sources.map((s) => s.name).join(", ") +
       ". Messages are received with VisibilityTimeout 0, so they stay where they are; as on AWS each look " +
       "adds one to their receive count. Redrive starts a message move task back to the queues they came from."),
    progress,
    el("h3", null, messages.length + " message" + (messages.length === 1 ? "" : "s") + " (" +
       (q.attrs.ApproximateNumberOfMessages || 0) + " visible)"),
    el("div", {id: "dlq-messages"}, messages.map((m, i) => messageCard(m, records[i]))));
}

/* ---- routing ------------------------------------------------------------------------------------ */

/* ---- traces ------------------------------------------------------------------------------------- */

/* The hops the daemon's journal holds for a trace id (a gateway request id or
 * an AWSTraceHeader), in time order, with the time since the first and the
 * previous hop: GET /_sluice/trace/{id}. */
async function viewTrace(root, live, arg) {
  const form = el("form", {id: "trace-form", onsubmit: (e) => {
    e.preventDefault();
    const v = document.getElementById("trace-id").value.trim();
    const hash = "#trace/" + encodeURIComponent(v);
    if (v && location.hash === hash) show(); /* the same id again: read it again */
    else if (v) location.hash = hash;
  }}, el("input", {id: "trace-id", size: "60", placeholder: "a request id or an AWSTraceHeader", value: arg || ""}),
  " ", el("button", {type: "submit"}, "Show"));
  const parts = [el("h2", null, "Trace"), form];
  if (!arg) {
    parts.push(el("p", {class: "note"}, "Pick a request in Requests, or give an id."));
    root.replaceChildren(...parts);
    return;
  }
  const doc = await getJSON("/_sluice/trace/" + encodeURIComponent(arg), true);
  const hops = (doc && doc.hops) || [];
  const first = hops.length ? hops[0].timeUs : 0;
  let prev = first;
  const rows = hops.map((h) => {
    const row = {cells: [h.timestamp, ((h.timeUs - first) / 1000).toFixed(3), ((h.timeUs - prev) / 1000).toFixed(3),
      h.kind, h.resource, h.durationUs ? (h.durationUs / 1000).toFixed(3) : "-",
      h.link ? (h.detail ? h.detail + " " : "") + "\u2192 " + h.link : h.detail]}; /* the journey goes on under link */
    prev = h.timeUs;
    return row;
  });
  parts.push(el("p", {class: "note"}, hops.length ? "Trace " + doc.traceId + ": " + hops.length + " hops." :
    "The journal holds no hops for " + arg + " (never traced, or forgotten: the journal is a bounded ring)."),
  table(["Time", "+first ms", "+prev ms", "Hop", "Resource", "Took ms", "Detail"], rows, "no hops", {id: "trace"}));
  root.replaceChildren(...parts); /* not re-read on a timer, which would redraw the form being typed in: Show reads again */
}

const VIEWS = {queues: viewQueues, topics: viewTopics, functions: viewFunctions, requests: viewRequests, dlq: viewDlq,
               trace: viewTrace};
let generation = 0;

/* A view is view(root, live, arg): it draws into root (root.replaceChildren)
 * and may schedule itself again through live: every(ms) re-renders once after ms
 * (the view asks again each time), again() at once; both only while the
 * view is still the one shown. */
function liveFor(gen, run) {
  let timer = null;
  return {
    every(ms) { clearTimeout(timer); timer = setTimeout(() => { if (gen === generation) run(); }, ms); },
    again() { clearTimeout(timer); if (gen === generation) run(); },
  };
}

function show() {
  const [name, ...rest] = location.hash.replace(/^#/, "").split("/");
  const view = VIEWS[name] ? name : "queues";
  let arg;
  try { arg = rest.length ? decodeURIComponent(rest.join("/")) : undefined; } catch (e) { arg = rest.join("/"); }
  const gen = ++generation;
  const main = document.getElementById("view");
  /* a view still loading when another is picked draws nothing */
  const root = {replaceChildren: (...nodes) => { if (gen === generation) main.replaceChildren(...nodes); }};
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view);
  const run = async () => {
    try {
      await VIEWS[view](root, live, arg);
      if (gen === generation) setStatus("updated " + new Date().toLocaleTimeString(), false);
    } catch (err) {
      if (gen !== generation) return;
      setStatus("error", true);
      root.replaceChildren(el("h2", null, view), errorBox(err));
      live.every(REFRESH_MS * 2);
    }
  };
  const live = liveFor(gen, run);
  root.replaceChildren(el("p", {class: "note"}, "loading…"));
  run();
}

window.addEventListener("hashchange", show);
show();
