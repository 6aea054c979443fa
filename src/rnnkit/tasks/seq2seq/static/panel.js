// The sequence-to-sequence panels: Translate (streamed) and Chat.
"use strict";

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
