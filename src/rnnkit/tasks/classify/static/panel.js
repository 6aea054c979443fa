// The classifier panel: a label, the probabilities, and the words that decided it.
"use strict";

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
