"""A tracking server on loopback that answers MLflow's `GET /api/2.0/mlflow/runs/get` for known runs.

The answer has the shape of MLflow's REST API (`{"run": {"info": ..., "data": {"metrics": [{"key",
"value", "timestamp", "step"}]}}}`, and `RESOURCE_DOES_NOT_EXIST` with 404 for an unknown run).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import answer_json, serve

RUNS_GET = "/api/2.0/mlflow/runs/get"


@contextmanager
def run_fake_mlflow(runs: Mapping[str, Mapping[str, float]]) -> Iterator[str]:
    """Serve `runs` (run id -> metrics) and yield the tracking URI."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            run_id = parse_qs(parts.query).get("run_id", [""])[0]
            if parts.path != RUNS_GET or run_id not in runs:
                self._answer(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Run '{run_id}' not found"})
                return
            metrics = [{"key": k, "value": v, "timestamp": 1714557600000, "step": 0} for k, v in runs[run_id].items()]
            self._answer(200, {"run": {"info": {"run_id": run_id, "status": "FINISHED"}, "data": {"metrics": metrics}}})

        def _answer(self, status: int, body: object) -> None:
            answer_json(self, status, body)

        def log_message(self, format: str, *args: object) -> None:
            return

    with serve(Handler, name="fake-mlflow") as url:
        yield url
