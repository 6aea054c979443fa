// The rnnkit page: one tab per thing the loaded models can do, talking to the /v1 API of this server.
// This script holds what every panel shares; each task adds its panel and script (rnnkit/tasks/NAME/static/).
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

// The defaults of a panel's chosen model (k, length, temperature, beam), as GET /v1/models gives them
function defaultsOf(panel) {
  const name = modelOf(panel);
  const model = fits(panel).find((m) => m.name === name) || fits(panel)[0];
  return (model && model.details.defaults) || {};
}

// Panels register here what to do once the models are known (fill their inputs with the model's defaults)
const onModels = [];

function fits(panel) {
  return models.filter((m) => m.task === panel.dataset.task && (!panel.dataset.kind || m.details.kind === panel.dataset.kind));
}

function openTab(id) {
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== id;
  for (const tab of $("tabs").children) tab.setAttribute("aria-selected", String(tab.dataset.panel === id));
}

function loadModels() {
  api("GET", "/v1/models").then((answer) => {
    models = answer.models;
    setUpTabs();
    for (const hook of onModels) hook();
    showError(null);
  }).catch(showError);
}

// The panels' scripts come after this one: start once they have all run
document.addEventListener("DOMContentLoaded", loadModels);
