"""Sequence-to-sequence endpoints: translation (whole, or streamed piece by piece) and chat replies.

A seq2seq pipeline has ``kind`` "translate" (``translate(text, *, beam)``, ``translate_stream(text, *, beam)``) or
"chat" (``reply(message, history)``); each endpoint is mounted for the models of its kind.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from rnnkit.serve.declare import Router, Strict
from rnnkit.serve.server import Server
from rnnkit.serve.sse import stream_pieces

router = Router("seq2seq")

MAX_BEAM = 32


class TranslateIn(Strict):
    text: str
    beam: int | None = Field(None, ge=1, le=MAX_BEAM, description="beam width (1: greedy; default: the run's)")
    stream: bool = Field(False, description="server-sent events, one per piece as the search fixes it")
    model: str | None = None


class TranslateOut(BaseModel):
    model: str
    translation: str


class ChatIn(Strict):
    message: str
    history: list[str] = Field(default_factory=list, description="earlier turns, oldest first, alternating")
    model: str | None = None


class ChatOut(BaseModel):
    model: str
    reply: str


@router.endpoint("translate", Request=TranslateIn, Response=TranslateOut, kind="translate")
async def translate(server: Server, body: TranslateIn):
    """The translation of the text; with ``stream`` true, server-sent events as it is decoded."""
    served = server.model("seq2seq", body.model, kind="translate")
    server.check_chars("text", len(body.text))
    if body.stream:
        return await stream_pieces(server, iter(served.pipeline.translate_stream(body.text, beam=body.beam)))
    text = await server.call(lambda: served.pipeline.translate(body.text, beam=body.beam))
    return TranslateOut(model=served.name, translation=text)


@router.endpoint("chat", Request=ChatIn, Response=ChatOut, kind="chat")
async def chat(server: Server, body: ChatIn) -> ChatOut:
    """The model's reply to a message, given the conversation so far."""
    served = server.model("seq2seq", body.model, kind="chat")
    server.check_chars("message and history", len(body.message) + sum(len(h) for h in body.history))
    reply = await server.call(served.pipeline.reply, body.message, list(body.history))
    return ChatOut(model=served.name, reply=reply)
