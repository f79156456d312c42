// emgrt live page: connects to the WebSocket of `emgrt serve --web` (same host, path /ws) and
// shows the committed text, the tentative hypothesis (styled apart: it may still change), the stream
// status and the signal envelope; from a gestures bundle, the detected gestures; replaying a session, also the prompt, each key's stable latency and
// the summary (key/summary events: the definitions of emgrt/stream/display.py, computed by the server).
// Protocol: emgrt/serve/PROTOCOL.md.  A token, if the server needs one, comes from ?token=.
// A server with several bands (`emgrt serve --stream A --stream B`): the page follows one, chosen
// in the band menu (?band=NAME picks it at load).
"use strict";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const LEVEL_KEEP = 100;  // level events shown (10 s at 10 Hz)
const KEYS_KEEP = 40;  // key latencies shown
const GESTURES_KEEP = 30;  // gestures shown
let stable = [];  // stable_ms of every key event so far
let text = "";
let chars = 0;
let gestures = 0;
let levels = [];
let retry = 500;
let band = null;  // the band followed, on a server with several (null: one band)
let eventTypes = [];  // what the server sends (the hello's events)

// Keys as emgrt.decode.apply_keys shows them: ⌫ erases, ⏎ is a newline, ⇧ shows nothing.
function applyKey(t, key) {
  if (key === "\u232b") return Array.from(t).slice(0, -1).join("");
  if (key === "\u23ce") return t + "\n";
  if (key === "\u21e7") return t;
  return t + key;
}

function setBadge(el, label, on) {
  el.textContent = label;
  el.className = "badge " + (on ? "on" : "off");
}

function log(msg) {
  const el = $("log");
  el.textContent = (msg + "\n" + el.textContent).slice(0, 2000);
}

function fmt(v) { return v === null || v === undefined ? "-" : Number(v).toFixed(2); }
function ms(v) { return v === null || v === undefined ? "-" : String(Math.round(v)); }
function pct3(d) { return d ? [d.p50, d.p90, d.p99].map(ms).join(" / ") : "-"; }

function median(a) {
  const s = a.slice().sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
}

function showGesture(ev) {
  $("gestures-panel").hidden = false;
  const el = document.createElement("span");
  el.className = "g";
  el.title = "frame " + ev.frame + ", stream time " + fmt(ev.frame_t) + " s";
  const g = document.createElement("b");
  g.textContent = ev.gesture.replace("_", " ");
  el.append(g, " " + fmt(ev.prob));
  $("gestures").append(el);
  while ($("gestures").children.length > GESTURES_KEEP) $("gestures").firstChild.remove();
  gestures += 1;
  $("gesture-count").textContent = gestures;
  $("last-gesture").textContent = g.textContent;
}

function showKey(ev) {
  $("keys-panel").hidden = false;
  const el = document.createElement("span");
  el.className = "k";
  el.title = "display " + ms(ev.display_ms) + " ms, stable " + ms(ev.stable_ms) + " ms, commit " + ms(ev.commit_ms) + " ms";
  const k = document.createElement("b");
  k.textContent = ev.key === " " ? "\u2423" : ev.key;
  el.append(k, " " + ms(ev.stable_ms));
  $("keys").append(el);
  while ($("keys").children.length > KEYS_KEEP) $("keys").firstChild.remove();
  if (ev.stable_ms !== null && ev.stable_ms !== undefined) stable.push(ev.stable_ms);
  $("stable50").textContent = ms(median(stable));
}

function showSummary(ev) {
  const el = $("summary");
  el.hidden = false;
  el.textContent = "summary: CER " + Number(ev.cer).toFixed(2) + " %, " + ev.matched + "/" + ev.keys +
    " keys shown right; latency p50 / p90 / p99 ms: displayed " + pct3(ev.display_ms) + ", stable " +
    pct3(ev.stable_ms) + ", committed " + pct3(ev.commit_ms) + "; revisions " +
    (ev.revision_rate === null ? "-" : Number(ev.revision_rate).toFixed(3)) + " per key, never shown " +
    (ev.never_shown === null ? "-" : (100 * ev.never_shown).toFixed(1) + " %");
}

function drawPlot() {
  const c = $("plot"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (!levels.length) return;
  const top = Math.max(1e-9, ...levels.flatMap((l) => l));
  const bands = levels[levels.length - 1].length;  // 2 for typing, 1 for the one-band tasks
  $("plot-legend").hidden = bands !== 2;
  $("plot-legend-one").hidden = bands === 2;
  ["#5ad", "#e96"].slice(0, bands).forEach((color, band) => {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    levels.forEach((l, i) => {
      const x = (i / (LEVEL_KEEP - 1)) * c.width;
      const y = c.height - 4 - ((l[band] || 0) / top) * (c.height - 8);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  });
}

// Follow one band: only its events from now on, and its text so far.
function follow(name) {
  band = name;
  chars = 0;
  stable = [];
  $("hyp").textContent = "";
  $("chars").textContent = chars;
  ws.send(JSON.stringify({cmd: "subscribe", events: eventTypes, bands: [name], id: "follow"}));
  ws.send(JSON.stringify({cmd: "text", band: name, id: "text"}));
}

function onEvent(ev) {
  if (band !== null && ev.band !== undefined && ev.band !== band) return;  // sent before the subscribe took
  switch (ev.type) {
    case "hello":
      if (ev.model || ev.bundle) $("model").textContent = ev.model || ev.bundle;
      if (ev.auth === "token") ws.send(JSON.stringify({cmd: "auth", token: token || "", id: "auth"}));
      eventTypes = ev.events || [];
      if (ev.bands && ev.bands.length > 1) {
        const menu = $("band");
        menu.replaceChildren(...ev.bands.map((b) => new Option(b, b)));
        const wanted = new URLSearchParams(location.search).get("band");
        menu.value = ev.bands.includes(wanted) ? wanted : ev.bands[0];
        menu.hidden = false;
        menu.onchange = () => follow(menu.value);
        follow(menu.value);
      } else {
        ws.send(JSON.stringify({cmd: "text", id: "text"}));
      }
      break;
    case "text":
      text = ev.text;
      $("text").textContent = text;
      if (typeof ev.prompt === "string") { $("prompt").hidden = !ev.prompt; $("prompt").textContent = ev.prompt; }
      break;
    case "char":
      text = applyKey(text, ev.key);
      chars += 1;
      $("text").textContent = text;
      $("chars").textContent = chars;
      break;
    case "hypothesis":
      $("hyp").textContent = Array.from(ev.text).reduce(applyKey, "");
      break;
    case "final":
      break;
    case "gesture":
      showGesture(ev);
      break;
    case "prompt":
      $("prompt").hidden = !ev.text;
      $("prompt").textContent = ev.text;
      break;
    case "key":
      showKey(ev);
      break;
    case "summary":
      showSummary(ev);
      break;
    case "level":
      levels.push(ev.rms);
      if (levels.length > LEVEL_KEEP) levels.shift();
      drawPlot();
      break;
    case "status":
      if (ev.status === "running") {
        setBadge($("stream"), "stream: running", true);
        $("samples").textContent = ev.samples ? ev.samples.received : "-";
        $("p50").textContent = fmt(ev.latency_ms && ev.latency_ms.compute_p50);
        $("p99").textContent = fmt(ev.latency_ms && ev.latency_ms.compute_p99);
        $("lag").textContent = fmt(ev.latency_ms && ev.latency_ms.lag);
      } else if (ev.status.startsWith("imu_")) {
        // A fused bundle's IMU stream came or went: the band goes on (without it, the IMU is absent).
        log({imu_connected: "IMU stream connected", imu_missing: "IMU stream not found (the model runs without it)",
             imu_lost: "IMU stream lost (the model runs without it)"}[ev.status] + (ev.stream ? ": " + ev.stream : ""));
      } else {
        const ok = ["connected", "reconnected", "reset"].includes(ev.status);
        setBadge($("stream"), "stream: " + ev.status, ok);
        if (ev.reason) log(ev.status + ": " + ev.reason);
      }
      break;
    case "error":
      log("error " + ev.code + ": " + ev.message);
      break;
  }
}

let ws;
function connect() {
  ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws.onopen = () => { setBadge($("conn"), "server: connected", true); retry = 500; };
  ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { log("bad event: " + e); } };
  ws.onclose = () => {
    setBadge($("conn"), "server: disconnected", false);
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 8000);
  };
}
connect();
