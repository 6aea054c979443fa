"""Language-model endpoints: next-word completion (micro-batched), typing sessions and text generation."""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, Field

from rnnkit.autocomplete import Predictor, Session
from rnnkit.serve.declare import Router, Strict
from rnnkit.serve.errors import ApiError
from rnnkit.serve.server import ServedModel, Server
from rnnkit.serve.sessions import session_bytes
from rnnkit.serve.sse import stream_pieces
from rnnkit.tasks.lm.batching import BatchCompleter
from rnnkit.tasks.lm.pipeline import DEFAULTS

router = Router("lm")
SCORER_HELP = "what suggests the words: rnn, ngram or mixture (default: the model's, see GET /v1/models)"


class Suggestion(BaseModel):
    word: str
    probability: float


class CompleteIn(Strict):
    text: str = Field(description="the text typed so far; a partly typed last word is completed")
    k: int = Field(DEFAULTS["k"], ge=1, description="how many words to suggest")
    model: str | None = Field(None, description="which lm model, when several are loaded")
    scorer: str | None = Field(None, description=SCORER_HELP)


class CompleteOut(BaseModel):
    model: str
    suggestions: list[Suggestion]


class GenerateIn(Strict):
    prime: str = ""
    length: int = Field(DEFAULTS["length"], ge=0, description="tokens to sample (at most max_new_tokens)")
    temperature: float = Field(DEFAULTS["temperature"], ge=0, description="0 is greedy; higher is more varied")
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stream: bool = Field(False, description="answer with server-sent events, one per piece of text")
    model: str | None = None


class GenerateOut(BaseModel):
    model: str
    text: str


class SessionIn(Strict):
    k: int = Field(DEFAULTS["k"], ge=1)
    model: str | None = None
    scorer: str | None = Field(None, description=SCORER_HELP)


class SessionOut(BaseModel):
    session_id: str
    model: str


class KeysIn(Strict):
    text: str = Field(description='characters typed, one keystroke each; "\\b" deletes the one before')


class KeysOut(BaseModel):
    text: str = Field(description="the whole text of the session after these keystrokes")
    suggestions: list[Suggestion]


class Ended(BaseModel):
    ended: bool = True


def _suggestions(pairs: list[tuple[str, float]]) -> list[Suggestion]:
    return [Suggestion(word=w, probability=p) for w, p in pairs]


def _check_k(server: Server, k: int) -> None:
    if k > server.settings.max_k:
        raise ApiError(422, f"k: at most max_k={server.settings.max_k}, got {k}")


def _predictor(served: ServedModel, scorer: str | None):
    try:
        return served.pipeline.predictor_for(scorer)
    except ValueError as e:
        raise ApiError(422, str(e)) from None


@router.endpoint("complete", Request=CompleteIn, Response=CompleteOut)
async def complete(server: Server, body: CompleteIn) -> CompleteOut:
    """The k most probable next words after the text, best first (concurrent requests share model steps)."""
    served = server.model("lm", body.model)
    server.check_chars("text", len(body.text))
    _check_k(server, body.k)
    predictor = _predictor(served, body.scorer)
    scorer = body.scorer or served.pipeline.defaults["scorer"]
    batcher = server.batcher(served, f"complete:{scorer}", lambda: BatchCompleter(predictor).complete)
    result = await server.within_timeout(batcher.submit((body.text, body.k)))
    return CompleteOut(model=served.name, suggestions=_suggestions(result))


@router.endpoint("generate", Request=GenerateIn, Response=GenerateOut)
async def generate(server: Server, body: GenerateIn):
    """Sampled text after a prime; with ``stream`` true, server-sent events as the text is made."""
    served = server.model("lm", body.model)
    server.check_chars("prime", len(body.prime))
    if body.length > server.settings.max_new_tokens:
        raise ApiError(422, f"length: at most max_new_tokens={server.settings.max_new_tokens}, got {body.length}")
    pieces = served.pipeline.generate(body.prime, length=body.length, temperature=body.temperature,
                                      top_k=body.top_k, top_p=body.top_p, seed=body.seed)
    if body.stream:
        return await stream_pieces(server, pieces)
    return GenerateOut(model=served.name, text="".join(await server.call(list, pieces)))


@router.endpoint("sessions", Request=SessionIn, Response=SessionOut, status_code=201)
async def start_session(server: Server, body: SessionIn) -> SessionOut:
    """Start a typing session: the server keeps the model's state between keystrokes."""
    served = server.model("lm", body.model)
    _check_k(server, body.k)
    predictor = _predictor(served, body.scorer)
    session, nbytes = await server.call(_new_session, predictor, body.k, server.settings.session_history)
    sid = server.sessions.add(session, nbytes=nbytes)
    return SessionOut(session_id=sid, model=served.name)


def _new_session(predictor: Predictor, k: int, history: int) -> tuple[Session, int]:
    return Session(predictor, k=k, history=history), session_bytes(predictor.begin(), history)


@router.endpoint("sessions/{session_id}/keys", Request=KeysIn, Response=KeysOut)
async def keys(server: Server, body: KeysIn, session_id: str) -> KeysOut:
    """Type into a session ("\\b" is backspace) and get the suggestions for the word at the end."""
    entry = server.sessions.get(session_id)
    server.check_chars("the session's text", len(entry.session.text) + len(body.text.replace("\b", "")))
    text, suggestions = await server.call(_type_keys, entry.session, body.text)
    return KeysOut(text=text, suggestions=_suggestions(suggestions))


def _type_keys(session: Session, keys: str) -> tuple[str, list[tuple[str, float]]]:
    """The session's text after ``keys``, and its suggestions. Runs of characters are typed, runs of
    backspaces delete (never past the start of the text). Keys the model cannot read (a ValueError) leave
    the text as it was before them."""
    before = session.text
    try:
        for run in re.findall(r"\x08+|[^\x08]+", keys):
            if run[0] == "\b":
                session.backspace(min(len(run), len(session.text)))
            else:
                session.type(run)
    except ValueError:
        same = len(os.path.commonprefix([before, session.text]))
        session.backspace(len(session.text) - same)
        session.type(before[same:])
        raise
    return session.text, session.suggestions()


@router.endpoint("sessions/{session_id}", Response=Ended, method="DELETE")
async def end_session(server: Server, session_id: str) -> Ended:
    """End a session and free its memory."""
    server.sessions.delete(session_id)
    return Ended()

