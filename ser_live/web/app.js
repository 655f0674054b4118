// ser-live supervisor page: one websocket (/ws), a tile per stream, sorted by who needs attention.
// Plain JS, no build step, no third-party code. Message schema: /schema/messages.schema.json (v1).
"use strict";

const SCHEMA_VERSION = 1;
const opts = Object.fromEntries(new URLSearchParams(location.hash.replace(/^#/, "")));
const ALERT_S = Number(opts.alert || 10);        // sustained negative emotion that raises an alert
const WINDOW_S = Number(opts.window || 60);      // seconds of stream time in the sparkline
const GAP_S = 2.0;                               // a negative run survives gaps shorter than this
const STALE_S = 4.0;                             // ...and ends when no negative window came for this long
const $ = (id) => document.getElementById(id);

let token = opts.token || sessionStorage.getItem("ser-live-token") || "";
let ws = null, retryMs = 500, hello = null, dropped = 0, sortMode = "attention";
let colors = {}, negative = new Set(["sad", "angry", "fearful", "disgust"]);
const streams = new Map();

function streamState(id) {
  let s = streams.get(id);
  if (!s) {
    s = { id, label: null, confidence: 0, valence: 0, events: [], nEvents: 0, speech: false, level: -120,
          t: 0, coveredTo: 0, speechS: 0, negS: 0, runStart: null, negLastEnd: 0, run: 0, alert: false,
          ended: false, offline: false, summary: null, tile: null };
    streams.set(id, s);
  }
  return s;
}

function connect() {
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  const q = opts.streams ? "?streams=" + encodeURIComponent(opts.streams) : "";
  setState("connecting", "connecting…");
  ws = new WebSocket(proto + location.host + "/ws" + q);
  // always authenticate first: a server without a token ignores it, one with a token answers a
  // missing or wrong one at once with 4401 (and the form below)
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
  ws.onmessage = (m) => { let msg; try { msg = JSON.parse(m.data); } catch (e) { return; } handle(msg); };
  ws.onclose = (e) => closed(e.code, e.reason);
}

function closed(code, reason) {
  hello = null;
  for (const s of streams.values()) s.offline = true;
  schedule();
  if (code === 4401 || code === 4408) {
    setState("refused", code === 4401 && token ? "wrong token" : "token needed");
    $("auth-why").textContent = token ? `${reason || "invalid token"}: try again.` : "This server needs a token.";
    $("auth").hidden = false;
    return;                                   // wait for the form
  }
  if (code === 4404 || code === 4400) {
    setState("refused", "refused");
    notice(`The server closed the connection (${code}: ${reason}). Check the address options.`);
    return;
  }
  setState("closed", code === 1013 ? "server full, retrying" : "disconnected, retrying");
  setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 10000);
}

function setState(state, text) { document.body.dataset.state = state; $("conn-text").textContent = text; }
function notice(text) { $("notice").textContent = text; $("notice").hidden = !text; }

function handle(msg) {
  switch (msg.type) {
    case "hello":
      if (msg.schema_version !== SCHEMA_VERSION) notice(`Server speaks schema v${msg.schema_version}; this page knows v${SCHEMA_VERSION}.`);
      hello = msg; retryMs = 500; colors = msg.colors || {};
      negative = new Set((msg.valence3_groups || {}).negative || []);
      $("neg-labels").textContent = [...negative].join(", ");
      $("auth").hidden = true;
      setState("open", "live");
      setStreams(msg.streams);
      break;
    case "streams": setStreams(msg.streams); break;
    case "event": onEvent(msg); break;
    case "status": {
      const s = streamState(msg.stream);
      s.speech = msg.speech; s.level = msg.level_db; s.t = Math.max(s.t, msg.t); s.error = msg.error;
      s.offline = false;
      break;
    }
    case "summary": { const s = streamState(msg.stream); s.ended = true; s.summary = msg; break; }
    case "heartbeat": dropped = Math.max(dropped, msg.dropped); break;
    case "dropped": dropped = Math.max(dropped, msg.total); break;
    default: return;                          // unknown types are ignored (additive schema changes)
  }
  schedule();
}

function setStreams(list) {
  const live = new Set();
  for (const info of list || []) {
    if (opts.streams && !opts.streams.split(",").includes(info.id)) continue;
    const s = streamState(info.id);
    s.offline = false; s.ended = info.ended; s.source = info.source;
    live.add(info.id);
  }
  for (const s of streams.values()) if (!live.has(s.id)) s.offline = true;
}

function onEvent(e) {
  const s = streamState(e.stream);
  s.offline = false; s.ended = false;
  s.label = e.label; s.confidence = e.confidence; s.valence = e.valence; s.nEvents += 1;
  s.t = Math.max(s.t, e.t_end);
  const neg = negative.has(e.label);
  s.events.push({ t0: e.t_start, t1: e.t_end, label: e.label, valence: e.valence, neg });
  while (s.events.length && (s.events[0].t1 < s.t - WINDOW_S || s.events.length > 400)) s.events.shift();
  // time shares count each stretch once (as the engine's summary does)
  const start = Math.max(e.t_start, s.coveredTo);
  if (e.t_end > start) { s.speechS += e.t_end - start; if (neg) s.negS += e.t_end - start; s.coveredTo = e.t_end; }
  if (neg) {
    if (s.runStart === null || e.t_start - s.negLastEnd > GAP_S) s.runStart = e.t_start;
    s.negLastEnd = Math.max(s.negLastEnd, e.t_end);
    s.run = s.negLastEnd - s.runStart;
  } else {
    s.runStart = null; s.run = 0;
  }
}

function currentRun(s) {
  if (s.ended || s.runStart === null || s.t - s.negLastEnd > STALE_S) return 0;
  return s.run;
}

function attention(s) {
  const run = currentRun(s);
  const share = s.speechS ? s.negS / s.speechS : 0;
  return (s.alert ? 1e6 : 0) + run * 100 + share * 10 + (s.offline || s.ended ? -1e7 : 0);
}

let pending = false;
function schedule() { if (!pending) { pending = true; requestAnimationFrame(render); } }

function render() {
  pending = false;
  const grid = $("grid");
  const list = [...streams.values()];
  const alerts = [];
  for (const s of list) {
    s.alert = !s.ended && !s.offline && currentRun(s) >= ALERT_S;
    if (s.alert) alerts.push(s);
    if (!s.tile) s.tile = makeTile(s);
    updateTile(s);
  }
  list.sort(sortMode === "name" ? (a, b) => a.id.localeCompare(b.id)
    : (a, b) => attention(b) - attention(a) || a.id.localeCompare(b.id));
  list.forEach((s, i) => { if (grid.children[i] !== s.tile) grid.insertBefore(s.tile, grid.children[i] || null); });
  $("empty").hidden = list.length > 0;
  $("n-streams").textContent = list.filter((s) => !s.offline).length;
  $("n-alerts").textContent = alerts.length;
  $("n-dropped").textContent = dropped;
  const bar = $("alerts");
  bar.hidden = alerts.length === 0;
  bar.replaceChildren(...alerts.map((s) => {
    const a = document.createElement("span");
    a.className = "a";
    a.textContent = `⚠ ${s.id}: negative (${s.label}) for ${currentRun(s).toFixed(0)} s`;
    a.onclick = () => s.tile.scrollIntoView({ behavior: "smooth", block: "center" });
    return a;
  }));
  document.title = (alerts.length ? `(${alerts.length}) ` : "") + "ser-live supervisor";
}

function el(tag, cls, parent) { const e = document.createElement(tag); if (cls) e.className = cls; parent && parent.appendChild(e); return e; }

function makeTile(s) {
  const t = el("section", "tile");
  t.dataset.stream = s.id;
  const top = el("div", "top", t);
  const name = el("span", "name", top); name.textContent = s.id; name.title = s.id;
  el("span", "badge", top).textContent = "ALERT";
  t._speech = el("span", "speech", top);
  const emo = el("div", "emo", t);
  t._label = el("span", "label", emo);
  t._conf = el("span", "conf", emo);
  t._canvas = el("canvas", "", t); t._canvas.width = 560; t._canvas.height = 108;
  const meter = el("div", "meter", t); t._meter = el("i", "", meter);
  const neg = el("div", "neg", t);
  const a = el("span", "run", neg); a.append("negative for "); t._run = el("b", "", a);
  const b = el("span", "", neg); b.append("in total "); t._neg = el("b", "", b);
  return t;
}

function updateTile(s) {
  const t = s.tile;
  const c = s.label ? (colors[s.label] || "#9e9e9e") : "#555";
  t.style.setProperty("--c", c);
  t.classList.toggle("alert", s.alert);
  t.classList.toggle("ended", s.ended);
  t.classList.toggle("offline", s.offline);
  t.dataset.label = s.label || "";
  t.dataset.events = s.nEvents;
  t.dataset.alert = s.alert ? "1" : "0";
  t._label.textContent = s.label || "—";
  t._conf.textContent = s.label ? `${Math.round(s.confidence * 100)} %  · valence ${s.valence >= 0 ? "+" : ""}${s.valence.toFixed(2)}` : "waiting for speech";
  t._speech.textContent = s.offline ? "offline" : s.ended ? "ended" : s.error ? "⚠ " + s.error
    : (s.speech ? "● speech" : "○ silence") + ` ${s.t.toFixed(0)} s`;
  t._speech.classList.toggle("on", s.speech && !s.ended && !s.offline);
  t._meter.style.width = Math.max(0, Math.min(100, (s.level + 60) / 60 * 100)) + "%";
  const run = currentRun(s);
  t._run.textContent = run > 0 ? `${run.toFixed(0)} s` : "—";
  t._neg.textContent = `${s.negS.toFixed(0)} s` + (s.speechS ? ` (${Math.round(100 * s.negS / s.speechS)} %)` : "");
  drawSpark(t._canvas, s);
}

function drawSpark(cv, s) {
  const g = cv.getContext("2d"), W = cv.width, H = cv.height;
  g.clearRect(0, 0, W, H);
  const span = Math.min(WINDOW_S, Math.max(20, s.t));               // short streams fill the width
  const tEnd = Math.max(s.t, span), tStart = tEnd - span;
  const x = (t) => (t - tStart) / span * W, y = (v) => H / 2 - v * (H / 2 - 4);
  g.fillStyle = "rgba(229,57,53,0.07)"; g.fillRect(0, H / 2, W, H / 2);   // negative valence half
  g.strokeStyle = "#39414e"; g.lineWidth = 1; g.beginPath(); g.moveTo(0, H / 2); g.lineTo(W, H / 2); g.stroke();
  for (const e of s.events) {                                             // a bar per window, its colour
    g.fillStyle = colors[e.label] || "#9e9e9e";
    g.globalAlpha = 0.35;
    g.fillRect(x(e.t0), e.valence >= 0 ? y(e.valence) : H / 2, Math.max(2, x(e.t1) - x(e.t0)), Math.abs(y(e.valence) - H / 2));
  }
  g.globalAlpha = 1;
  g.lineWidth = 3; g.beginPath();                                         // the valence line
  s.events.forEach((e, i) => { const px = x((e.t0 + e.t1) / 2), py = y(e.valence); i ? g.lineTo(px, py) : g.moveTo(px, py); });
  g.strokeStyle = "#e6e9ee"; g.stroke();
  for (const e of s.events) { g.fillStyle = colors[e.label] || "#9e9e9e"; g.beginPath(); g.arc(x((e.t0 + e.t1) / 2), y(e.valence), 5, 0, 7); g.fill(); }
}

$("sort").onchange = (e) => { sortMode = e.target.value; schedule(); };
$("alert-s").textContent = ALERT_S;
$("auth").onsubmit = (e) => {
  e.preventDefault();
  token = $("token").value; sessionStorage.setItem("ser-live-token", token);
  $("auth").hidden = true; connect();
};
setInterval(schedule, 1000);   // runs age and go stale without new messages
connect();
