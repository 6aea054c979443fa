// The language-model panels: Type (a typing session with suggestions) and Generate.
"use strict";

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
  const panel = $("panel-type");
  const answer = await api("POST", "/v1/lm/sessions",
    { model: modelOf(panel), k: defaultsOf(panel).k || 3, scorer: $("scorer").value || null });
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
// the scorers the chosen model offers (rnn; ngram and mixture when its run saved them), its default first chosen
function fillScorers() {
  const panel = $("panel-type");
  const model = fits(panel).find((m) => m.name === modelOf(panel)) || fits(panel)[0];
  const scorers = (model && model.details.scorers) || [];
  $("scorer").replaceChildren(...scorers.map((name) => new Option(name, name)));
  $("scorer").value = defaultsOf(panel).scorer || "";
  $("scorer-label").hidden = scorers.length < 2;
}
onModels.push(fillScorers);

function restartTyping() {
  typing.session = null;
  syncTyping();
}
$("panel-type").querySelector("select.model").addEventListener("change", () => { fillScorers(); restartTyping(); });
$("scorer").addEventListener("change", restartTyping);

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


// the generation inputs start at the model's defaults, the same as the CLI's and the API's
function fillGenerateDefaults() {
  const d = defaultsOf($("panel-generate"));
  if (d.length !== undefined) $("length").value = d.length;
  if (d.temperature !== undefined) $("temperature").value = d.temperature;
}
onModels.push(fillGenerateDefaults);
$("panel-generate").querySelector("select.model").addEventListener("change", fillGenerateDefaults);
