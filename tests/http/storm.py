"""A claim storm client: one process, one thread and one connection per request, all released at
the same wall-clock instant. Used by the HTTP tests as ``python tests/http/storm.py`` with a JSON
job on stdin::

    {"base_url": "http://127.0.0.1:8000", "start_at": 1760000000.5,
     "requests": [{"method": "POST", "path": "/v1/stocks/s/claims", "body": {...}}, ...]}

It prints one JSON line per answered request as soon as it is answered (flushed, so a test that
kills the server mid-storm still sees every answer that came back):
``{"index": i, "status": 201, "body": {...}}``; a failed connection gives status 0.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse
from typing import Any

_print_lock = threading.Lock()


def _one(index: int, base: urllib.parse.SplitResult, request: dict[str, Any], start_at: float):
    status, body = 0, None
    try:
        connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
        connection.connect()
        payload = json.dumps(request["body"]).encode()
        time.sleep(max(0.0, start_at - time.time()))
        connection.request(
            request.get("method", "POST"),
            request["path"],
            body=payload,
            headers={"content-type": "application/json", **request.get("headers", {})},
        )
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read() or b"null")
        connection.close()
    except (OSError, http.client.HTTPException, ValueError) as error:
        body = {"client_error": type(error).__name__}
    line = json.dumps({"index": index, "status": status, "body": body})
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main() -> None:
    job = json.load(sys.stdin)
    base = urllib.parse.urlsplit(job["base_url"])
    threads = [
        threading.Thread(
            target=_one, args=(request.get("index", index), base, request, job["start_at"])
        )
        for index, request in enumerate(job["requests"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
