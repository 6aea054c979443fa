"""``rnnkit serve``: a FastAPI app over the task pipelines, and the web page that types into it.

``create_app(runs, settings)`` loads the runs and mounts, for each loaded task, the endpoints its router
declares (``Task.router``), plus ``GET /v1/models``, ``/healthz``, ``/metrics``, the OpenAPI docs at ``/docs``
and the page at ``/``, assembled from the panels of the registered tasks (``Task.panel``). ``run(runs,
settings)`` serves it with uvicorn until interrupted. Every request passes the ``Guard`` (limits, token,
metrics); JSON posts to the task endpoints then take the ``Direct`` way.

>>> run(["runs/demo"], Settings(port=8000))          # then open http://127.0.0.1:8000/
"""

from __future__ import annotations

import gc
import inspect
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.routing import BaseRoute

from rnnkit import registry
from rnnkit.serve.declare import Endpoint
from rnnkit.serve.direct import Direct
from rnnkit.serve.errors import install_error_handlers
from rnnkit.serve.guard import Guard
from rnnkit.serve.server import RunOrPipeline, Server, load_models
from rnnkit.serve.settings import Settings

STATIC = Path(__file__).parent / "static"


class ModelInfo(BaseModel):
    name: str
    task: str
    run: str | None
    endpoints: list[str]
    details: dict[str, Any]


class ModelsOut(BaseModel):
    models: list[ModelInfo]


class Health(BaseModel):
    status: str
    models: int


def create_app(runs_or_pipelines: Sequence[RunOrPipeline], settings: Settings | None = None) -> FastAPI:
    """The app serving ``runs_or_pipelines``: run directories (inside ``settings.allowed_dirs``) or
    ``(name, pipeline)`` pairs. Raises ServeError (a ValueError) with one line for a run it cannot serve."""
    settings = settings or Settings()
    server = Server(load_models(runs_or_pipelines, settings), settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        server.close()

    app = FastAPI(title="rnnkit", summary="Recurrent models served over HTTP", lifespan=lifespan)
    app.state.server = server
    install_error_handlers(app)
    mounted = [(spec, _mount(app, spec, server)) for spec in served_endpoints(server)]
    app.state.endpoints = [spec for spec, _ in mounted]
    for task in registry.tasks():  # before /static, which would otherwise take these paths
        if task.panel_dir() is not None:
            app.mount(f"/static/tasks/{task.name}", StaticFiles(directory=task.panel_dir()), name=f"panel-{task.name}")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _mount_common(app, server, app.state.endpoints)
    app.add_middleware(Direct, server=server, mounted=mounted)  # the last added is the outermost: Guard first
    app.add_middleware(Guard, server=server, routes=app.router.routes)
    return app


def run(runs: Sequence[str], settings: Settings) -> None:
    """Serve ``runs`` on ``settings.host``:``settings.port`` with uvicorn; returns when interrupted. Sets
    torch's thread count for the whole process to ``settings.torch_threads``."""
    import torch
    import uvicorn

    if settings.torch_threads is not None:
        torch.set_num_threads(settings.torch_threads)

    app = create_app(runs, settings)
    # The objects alive now (torch, the models, the app) live as long as the server: moved out of the
    # collector's generations, a full collection no longer walks them, which cut the worst latencies under
    # load from about 170 ms to about 60 (bench serve, 32 clients)
    gc.collect()
    gc.freeze()
    names = ", ".join(f"{m.name} ({m.task})" for m in app.state.server.models.values())
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"serving {names} at http://{host}:{settings.port}/ (API docs at /docs)", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=settings.access_log)


def served_endpoints(server: Server) -> list[Endpoint]:
    """The endpoints of the routers of the tasks ``server`` holds models of, each where a model of its kind
    is loaded."""
    out = []
    for name in sorted({m.task for m in server.models.values()}):
        router = registry.task(name).part("router")
        out += [spec for spec in (router.endpoints if router else []) if _is_served(spec, server)]
    return out


def _is_served(spec: Endpoint, server: Server) -> bool:
    return any(m.task == spec.task and (spec.kind is None or m.kind == spec.kind) for m in server.models.values())


def page() -> str:
    """The web page: ``static/index.html`` with the panel of every registered task that has one, and its
    script, in the places marked ``<!-- panels -->`` and ``<!-- scripts -->``."""
    panels, scripts = [], []
    for task in registry.tasks():
        folder = task.panel_dir()
        if folder is not None:
            panels.append((folder / "panel.html").read_text(encoding="utf-8"))
            scripts.append(f'<script src="/static/tasks/{task.name}/panel.js"></script>')
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    return html.replace("<!-- panels -->", "\n".join(panels)).replace("<!-- scripts -->", "\n  ".join(scripts))


def _mount(app: FastAPI, spec: Endpoint, server: Server) -> BaseRoute:
    """Route ``spec`` with a signature FastAPI reads: the body model (if any) and the path parameters."""
    params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str, default=PathParam())
              for name in re.findall(r"{(\w+)}", spec.path)]
    optional = spec.Request is not None and not any(f.is_required() for f in spec.Request.model_fields.values())
    if spec.Request is not None:  # a body whose fields all have defaults may be left out
        annotation = spec.Request | None if optional else spec.Request
        params.append(inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                        default=Body(None) if optional else Body()))

    async def route(**kwargs: Any) -> Any:
        if optional and kwargs["body"] is None:
            kwargs["body"] = spec.Request()
        return await spec.handler(server, **kwargs)

    route.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    route.__name__ = f"{spec.task}_{spec.handler.__name__}"
    app.add_api_route(spec.route, route, methods=[spec.method], response_model=spec.Response, summary=spec.summary,
                      description=inspect.getdoc(spec.handler) or "", tags=[spec.task], status_code=spec.status_code)
    return app.router.routes[-1]


def _mount_common(app: FastAPI, server: Server, endpoints: list[Endpoint]) -> None:
    @app.get("/v1/models", response_model=ModelsOut, tags=["models"])
    async def models() -> ModelsOut:
        """Every loaded model: its name, task, run directory, endpoints and vocabulary or classes."""
        return ModelsOut(models=[_info(m, server, endpoints) for m in server.models.values()])

    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> Health:
        """Liveness: answers while the server runs."""
        return Health(status="ok", models=len(server.models))

    @app.get("/metrics", response_class=PlainTextResponse, tags=["operations"])
    async def metrics() -> PlainTextResponse:
        """Request counts, latencies, batch sizes and sessions in the Prometheus text format."""
        return PlainTextResponse(server.metrics.render(), media_type=server.metrics.content_type)

    html = page()

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(html)


def _info(model, server: Server, endpoints: list[Endpoint]) -> ModelInfo:
    routes = [f"{s.method} {s.route}" for s in endpoints
              if s.task == model.task and (s.kind is None or s.kind == model.kind)]
    return ModelInfo(name=model.name, task=model.task, run=str(model.run) if model.run else None, endpoints=routes,
                     details=model.pipeline.describe())
