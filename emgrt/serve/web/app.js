// emgrt live page: connects to the WebSocket of `emgrt serve --web` (same host, path /ws) and
// shows the committed text, the tentative hypothesis, the stream status and the signal envelope.
// Protocol: emgrt/serve/PROTOCOL.md.  A token, if the server needs one, comes from ?token=.
"use strict";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const LEVEL_KEEP = 100;  // level events shown (10 s at 10 Hz)
let text = "";
let chars = 0;
let levels = [];
let retry = 500;

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

function drawPlot() {
  const c = $("plot"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (!levels.length) return;
  const top = Math.max(1e-9, ...levels.flatMap((l) => l));
  ["#5ad", "#e96"].forEach((color, band) => {
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

function onEvent(ev) {
  switch (ev.type) {
    case "hello":
      if (ev.model || ev.bundle) $("model").textContent = ev.model || ev.bundle;
      if (ev.auth === "token") ws.send(JSON.stringify({cmd: "auth", token: token || "", id: "auth"}));
      ws.send(JSON.stringify({cmd: "text", id: "text"}));
      break;
    case "text":
      text = ev.text;
      $("text").textContent = text;
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
