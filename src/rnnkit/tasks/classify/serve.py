"""Classifier endpoints: a label with the probability of every class, and which tokens decided it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from rnnkit.serve.declare import Router, Strict
from rnnkit.serve.server import Server

router = Router("classify")


class ClassifyIn(Strict):
    text: str = Field(description="the text (or numeric steps '0.1,2 0.3,1.5') to classify")
    model: str | None = Field(None, description="which classify model, when several are loaded")


class ClassifyOut(BaseModel):
    model: str
    label: str
    probabilities: dict[str, float] = Field(description="every class, most probable first")


class ExplainIn(ClassifyIn):
    method: Literal["integrated gradients", "gradient x input", "attention"] = "integrated gradients"


class ExplainOut(ClassifyOut):
    tokens: list[str]
    scores: list[float] = Field(description="one per token: positive pushed toward the label")
    method: str


@router.endpoint("classify", Request=ClassifyIn, Response=ClassifyOut)
async def classify(server: Server, body: ClassifyIn) -> ClassifyOut:
    """The most probable label of the text and the probability of every label."""
    served = server.model("classify", body.model)
    server.check_chars("text", len(body.text))
    label, probabilities = await server.call(served.pipeline.classify, body.text)
    return ClassifyOut(model=served.name, label=label, probabilities=probabilities)


@router.endpoint("explain", Request=ExplainIn, Response=ExplainOut)
async def explain(server: Server, body: ExplainIn) -> ExplainOut:
    """The label, and one score per token saying how much it pushed the model toward that label."""
    served = server.model("classify", body.model)
    server.check_chars("text", len(body.text))
    e = await server.call(lambda: served.pipeline.explain(body.text, method=body.method))
    return ExplainOut(model=served.name, label=e.label, probabilities=e.probabilities, tokens=e.tokens,
                      scores=e.scores, method=e.method)
