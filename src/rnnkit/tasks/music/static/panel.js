// The music panel: a piece sampled after an optional MIDI primer, drawn as a piano roll while it streams in,
// then offered as a MIDI file to download and, when the server renders audio, to listen to.
"use strict";

const musicRoll = { low: 0, high: 127, stepsPerBeat: 1, total: 1, primer: 0, urls: [] };

// ---- the request: the primer file in base64, the options as GET /v1/models gives their defaults -----------
async function musicBase64(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) { // in chunks: one spread of a whole file may overflow the stack
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function musicNumber(id) {
  const value = $(id).value;
  return value === "" ? null : Number(value); // empty: the run's default
}

async function musicRequest() {
  const file = $("music-prime").files[0];
  return { model: modelOf($("panel-music")), prime: file ? await musicBase64(file) : null,
    length: musicNumber("music-length"), unit: $("music-unit").value || null,
    temperature: musicNumber("music-temperature"), seed: musicNumber("music-seed"),
    audio: $("music-audio-format").value || null };
}

// Server-sent events from a POST: onEvent(name, data) for each event before "end"; returns the end's data
async function musicEvents(path, body, onEvent) {
  const response = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body) });
  if (!response.ok) throw await apiError(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new ApiError(502, "the stream ended before the piece did");
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const lines = buffer.slice(0, cut).split("\n");
      buffer = buffer.slice(cut + 2);
      const name = (lines.find((l) => l.startsWith("event: ")) || "event: message").slice(7);
      const data = JSON.parse((lines.find((l) => l.startsWith("data: ")) || "data: {}").slice(6));
      if (name === "error") throw new ApiError(500, data.error);
      if (name === "end") return data;
      onEvent(name, data);
    }
  }
}

// ---- the piano roll: one column a time step, one row a pitch of the model's range ---------------------------
function musicClear(total) {
  const canvas = $("music-roll");
  canvas.width = Math.round(canvas.clientWidth * (window.devicePixelRatio || 1)) || canvas.width;
  const details = (fits($("panel-music")).find((m) => m.name === modelOf($("panel-music"))) || {}).details || {};
  [musicRoll.low, musicRoll.high] = details.pitches || [0, 127];
  musicRoll.stepsPerBeat = details.steps_per_beat || 1;
  musicRoll.total = Math.max(total, 1);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#eaeef2"; // a line at each beat
  const dx = canvas.width / musicRoll.total;
  for (let t = 0; t < musicRoll.total; t += musicRoll.stepsPerBeat) ctx.fillRect(Math.floor(t * dx), 0, 1, canvas.height);
}

function musicDraw(step, pitches, colour) {
  const canvas = $("music-roll");
  const ctx = canvas.getContext("2d");
  const dx = canvas.width / musicRoll.total;
  const dy = canvas.height / (musicRoll.high - musicRoll.low + 1);
  ctx.fillStyle = colour;
  for (const p of pitches) {
    ctx.fillRect(step * dx, canvas.height - (p - musicRoll.low + 1) * dy, Math.max(dx - 1, 1), Math.max(dy - 1, 1));
  }
}

// ---- the finished piece: a download link and a player ------------------------------------------------------
function musicBlobUrl(base64, type) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  musicRoll.urls.push(url);
  return url;
}

function musicOffer(piece) {
  for (const url of musicRoll.urls.splice(0)) URL.revokeObjectURL(url);
  const link = $("music-download");
  link.href = musicBlobUrl(piece.midi, "audio/midi");
  link.hidden = false;
  const player = $("music-audio");
  player.hidden = !piece.audio;
  if (piece.audio) player.src = musicBlobUrl(piece.audio, piece.audio_type || "audio/wav");
  else player.removeAttribute("src");
}

$("music-go").addEventListener("click", async () => {
  const button = $("music-go");
  button.disabled = true;
  $("music-download").hidden = true;
  $("music-audio").hidden = true;
  try {
    const body = await musicRequest();
    let length = 0; // time steps to sample: the server converts the length's unit and says
    const piece = await musicEvents("/v1/music/stream", body, (name, data) => {
      if (name === "primer") {
        musicRoll.primer = data.steps.length;
        length = data.length;
        musicClear(data.steps.length + length);
        data.steps.forEach((pitches, t) => musicDraw(t, pitches, "#8c959f"));
      } else {
        musicDraw(data.step, data.pitches, "#0969da");
        $("music-status").textContent = `step ${data.step - musicRoll.primer + 1} of ${length}` +
          (musicRoll.primer ? ` after ${musicRoll.primer} steps of primer` : "");
      }
    });
    musicOffer(piece);
    showError(null);
  } catch (error) { showError(error); }
  finally { button.disabled = false; }
});

$("music-prime-none").addEventListener("click", () => { $("music-prime").value = ""; });

// the inputs start at the model's defaults, the same as the CLI's and the API's
function fillMusicDefaults() {
  const d = defaultsOf($("panel-music"));
  if (d.length !== undefined) $("music-length").value = d.length;
  if (d.unit !== undefined) $("music-unit").value = d.unit;
  if (d.audio !== undefined) $("music-audio-format").value = d.audio;
  if (d.temperature !== undefined) $("music-temperature").value = d.temperature;
}
onModels.push(fillMusicDefaults);
$("panel-music").querySelector("select.model").addEventListener("change", fillMusicDefaults);
