// The rnnkit page: one tab per thing the loaded models can do, talking to the /v1 API of this server.
"use strict";

const $ = (id) => document.getElementById(id);
let models = []; // GET /v1/models
const tokenBox = $("token");
tokenBox.value = localStorage.getItem("rnnkit-token") || "";
tokenBox.addEventListener("change", () => {
  localStorage.setItem("rnnkit-token", tokenBox.value);
  if (!models.length) loadModels(); // the models were refused for want of the token
});

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if (tokenBox.value) h.Authorization = "Bearer " + tokenBox.value;
  return h;
}

// fetch + JSON both ways; a non-2xx answer throws ApiError with the server's {"error": ...} message
async function api(method, path, body) {
  const response = await fetch(path, { method, headers: headers(), body: body && JSON.stringify(body) });
  if (!response.ok) throw await apiError(response);
  return response.json();
}

async function apiError(response) {
  let message = response.statusText;
  try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
  return new ApiError(response.status, message);
}

function showError(error) {
  $("error").textContent = error ? String(error.message || error) : "";
  $("error").hidden = !error;
}

// Server-sent events from a POST: calls onText(piece) for each data event until "end"
async function stream(path, body, onText) {
  const response = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body) });
  if (!response.ok) throw await apiError(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const lines = buffer.slice(0, cut).split("\n");
      buffer = buffer.slice(cut + 2);
      const name = (lines.find((l) => l.startsWith("event: ")) || "event: message").slice(7);
      const data = JSON.parse((lines.find((l) => l.startsWith("data: ")) || "data: {}").slice(6));
      if (name === "error") throw new ApiError(500, data.error);
      if (name === "end") return;
      onText(data.text);
    }
  }
}

// ---- tabs and model selectors, from GET /v1/models ------------------------------------------------------

function modelOf(panel) {
  const select = panel.querySelector("select.model");
  return select.value || null;
}

function setUpTabs() {
  const panels = [...document.querySelectorAll(".panel")].filter((panel) => fits(panel).length > 0);
  for (const panel of panels) {
    const select = panel.querySelector("select.model");
    for (const m of fits(panel)) select.add(new Option(m.name, m.name));
    select.hidden = select.options.length < 2;
    const tab = document.createElement("button");
    tab.textContent = panel.dataset.title;
    tab.setAttribute("role", "tab");
    tab.dataset.panel = panel.id;
    tab.addEventListener("click", () => openTab(panel.id));
    $("tabs").append(tab);
  }
  if (panels.length) openTab(panels[0].id);
  else showError("no model is loaded");
}

function fits(panel) {
  return models.filter((m) => m.task === panel.dataset.task && (!panel.dataset.kind || m.details.kind === panel.dataset.kind));
}

function openTab(id) {
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== id;
  for (const tab of $("tabs").children) tab.setAttribute("aria-selected", String(tab.dataset.panel === id));
}

// ---- typing: a session on the server; each change of the box is sent as keystrokes ----------------------
const typing = { box: $("typing"), session: null, sent: "", busy: false, again: false, shown: [] };

async function syncTyping() {
  if (typing.busy) { typing.again = true; return; }
  typing.busy = true;
  try {
    let retries = 0;
    do {
      typing.again = false;
      const text = typing.box.value;
      let same = 0;
      while (same < typing.sent.length && same < text.length && typing.sent[same] === text[same]) same++;
      const keys = "\b".repeat(typing.sent.length - same) + text.slice(same);
      try {
        if (!typing.session) await startSession();
        const answer = await api("POST", `/v1/lm/sessions/${typing.session}/keys`, { text: keys });
        typing.sent = answer.text;
        if (typing.box.value === text) showSuggestions(answer.suggestions);
        showError(null);
      } catch (error) {
        if (error.status !== 404 || ++retries > 2) throw error;
        typing.session = null; // the session expired: start again from the whole text
        typing.again = true;
      }
    } while (typing.again);
  } catch (error) {
    showError(error);
  } finally {
    typing.busy = false;
  }
}

async function startSession() {
  const answer = await api("POST", "/v1/lm/sessions", { model: modelOf($("panel-type")), k: 3 });
  typing.session = answer.session_id;
  typing.sent = "";
}

function showSuggestions(suggestions) {
  typing.shown = suggestions;
  $("suggestions").replaceChildren(...suggestions.map(({ word, probability }) => {
    const b = document.createElement("button");
    b.className = "suggestion";
    b.dataset.word = word;
    b.append(word, Object.assign(document.createElement("small"), { textContent: `${Math.round(probability * 100)}%` }));
    b.addEventListener("click", () => accept(word));
    return b;
  }));
}

// Replace the word being typed at the end of the box by ``word`` and a space
function accept(word) {
  const box = typing.box;
  const typed = box.value.match(/[\p{L}\p{N}\p{M}'’-]*$/u)[0];
  box.value = box.value.slice(0, box.value.length - typed.length) + word + " ";
  box.focus();
  syncTyping();
}

typing.box.addEventListener("input", syncTyping);
typing.box.addEventListener("keydown", (event) => {
  if (event.key === "Tab" && typing.shown.length) {
    event.preventDefault();
    accept(typing.shown[0].word);
  }
});
$("panel-type").querySelector("select.model").addEventListener("change", () => {
  typing.session = null;
  syncTyping();
});

// ---- generate --------------------------------------------------------------------------------------------
$("generate-go").addEventListener("click", async () => {
  const out = $("generated");
  const seed = $("seed").value;
  const body = { model: modelOf($("panel-generate")), prime: $("prime").value, length: Number($("length").value),
    temperature: Number($("temperature").value), seed: seed === "" ? null : Number(seed), stream: true };
  out.textContent = body.prime;
  try { await stream("/v1/lm/generate", body, (piece) => { out.textContent += piece; }); showError(null); }
  catch (error) { showError(error); }
});

// ---- classify and explain ------------------------------------------------------------------------------
async function classify(path) {
  const body = { model: modelOf($("panel-classify")), text: $("classify-text").value };
  try {
    const answer = await api("POST", path, body);
    $("label").textContent = `label: ${answer.label}`;
    $("bars").replaceChildren(...Object.entries(answer.probabilities).map(([name, p]) => bar(name, p)));
    $("explained").replaceChildren(...(answer.tokens ? shaded(answer.tokens, answer.scores) : []));
    showError(null);
  } catch (error) { showError(error); }
}

function bar(name, p) {
  const row = document.createElement("div");
  row.className = "bar";
  const fill = Object.assign(document.createElement("div"), { className: "fill" });
  fill.style.width = `${(p * 100).toFixed(1)}%`;
  const track = document.createElement("div");
  track.append(fill);
  row.append(Object.assign(document.createElement("span"), { textContent: name }), track,
    Object.assign(document.createElement("span"), { textContent: `${(p * 100).toFixed(1)}%` }));
  return row;
}

// Tokens shaded green (toward the label) or red (away), by |score| as a share of the largest
function shaded(tokens, scores) {
  const top = Math.max(1e-12, ...scores.map(Math.abs));
  return tokens.flatMap((token, i) => {
    const span = Object.assign(document.createElement("span"), { textContent: token, title: scores[i].toFixed(3) });
    const alpha = Math.abs(scores[i]) / top;
    span.style.background = scores[i] >= 0 ? `rgba(22,163,74,${alpha})` : `rgba(220,38,38,${alpha})`;
    return [span, " "];
  });
}

$("classify-go").addEventListener("click", () => classify("/v1/classify/classify"));
$("explain-go").addEventListener("click", () => classify("/v1/classify/explain"));

// ---- translate and chat ----------------------------------------------------------------------------------
$("translate-go").addEventListener("click", async () => {
  const out = $("translation");
  out.textContent = "";
  const body = { model: modelOf($("panel-translate")), text: $("source").value, stream: true };
  try { await stream("/v1/seq2seq/translate", body, (piece) => { out.textContent += piece; }); showError(null); }
  catch (error) { showError(error); }
});

const history = [];
$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = $("chat-input").value;
  if (!message.trim()) return;
  try {
    const answer = await api("POST", "/v1/seq2seq/chat", { model: modelOf($("panel-chat")), message, history });
    history.push(message, answer.reply);
    for (const [who, text] of [["you", message], ["model", answer.reply]]) {
      $("chat-log").append(Object.assign(document.createElement("p"), { className: who, textContent: text }));
    }
    $("chat-input").value = "";
    showError(null);
  } catch (error) { showError(error); }
});

function loadModels() {
  api("GET", "/v1/models").then((answer) => { models = answer.models; setUpTabs(); showError(null); }).catch(showError);
}

loadModels();
