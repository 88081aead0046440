"""Schemathesis against /api/v1/openapi.json on a live gunicorn: no 5xx, responses as documented.

A well-kept fuzzer instead of more hand-written cases: for every operation it sends the
documented examples, the schema's edge cases and random valid and invalid requests, and
checks each answer against the OpenAPI document.
"""

import os
import subprocess
import sys

from tests.support.servers import gunicorn_server
from webapp.services import apikeys

SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "st")
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")


def test_the_api_keeps_its_openapi_document_under_fuzzing(app, paths):
    key = apikeys.create_key(app.config["DATABASE"], "fuzzer", "admin", "tests")[1]
    with gunicorn_server(paths, workers=2) as (url, _):
        run = subprocess.run(
            [SCHEMATHESIS, "run", f"{url}/api/v1/openapi.json", "--header", f"X-API-Key: {key}",
             "--checks", ",".join(CHECKS), "--max-examples", "20", "--workers", "2",
             "--phases", "examples,coverage,fuzzing", "--generation-database", "none",
             "--request-timeout", "20", "--no-color"],
            capture_output=True, text=True, timeout=120, cwd=paths["LOG_DIR"])
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and "4 selected / 4 total" in run.stdout
