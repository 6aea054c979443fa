"""``rnnkit serve``: the HTTP server over the task pipelines, its typing sessions and its web page.

>>> from rnnkit.serve import Settings, create_app, run
>>> app = create_app(["runs/demo"], Settings())      # a FastAPI app, e.g. for fastapi.testclient
>>> run(["runs/demo"], Settings(port=8000))          # blocking: uvicorn on 127.0.0.1:8000
"""

from rnnkit.serve.app import create_app, run
from rnnkit.serve.settings import ServeError, Settings

__all__ = ["ServeError", "Settings", "create_app", "run"]
