"""A local stand-in of a self-hosted LibreTranslate server for tests (127.0.0.1, any free port).

It speaks LibreTranslate's HTTP API as its own server does (libretranslate/app.py):

- ``GET /languages`` answers ``[{"code": "en", "name": "English", "targets": [...]}, ...]``;
- ``POST /translate`` takes JSON or form fields ``q`` (a string, or a list for a batch),
  ``source`` (a code or ``auto``), ``target``, ``format`` (``text`` or ``html``, default
  ``text``) and ``api_key``, and answers ``{"translatedText": ...}`` (a list for a batch; with
  ``source=auto`` also ``detectedLanguage: {"confidence": ..., "language": ...}``);
- mistakes answer ``{"error": "..."}``: 400 for a missing parameter, an unsupported language
  or format, 400 when a key is required and none is given, 403 for a wrong key.

It does not translate: the "translation" is a fixed phrase book for the demo texts the tests
use, else the text marked with the language pair (``[ko→uk] …``). It records every request it
received (``requests``) so that a test can see what reached it, and nothing else.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

LANGUAGES = {"en": "English", "ko": "Korean", "ru": "Russian", "uk": "Ukrainian"}
PHRASES = {
    ("ko", "uk"): {"DEMO: 부상을 입었습니다": "DEMO: Я поранений"},
    ("ko", "en"): {"DEMO: 부상을 입었습니다": "DEMO: I am wounded"},
}


@dataclass(frozen=True)
class Received:
    path: str
    fields: dict[str, Any]


class _Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FakeLibreTranslate:
    """Use as a context manager; ``url`` goes into ``SAFEPASSAGE_LIBRETRANSLATE_URL``."""

    def __init__(self, *, api_key: str = "") -> None:
        self.api_key = api_key
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.server is not None  # noqa: S101 (started by __enter__)
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeLibreTranslate:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_POST(self) -> None:
                fake.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # The protocol ---------------------------------------------------------------------------

    def handle(self, http: BaseHTTPRequestHandler, method: str) -> None:
        path = urlparse(http.path).path
        try:
            fields = self._fields(http) if method == "POST" else {}
            with self.lock:
                self.requests.append(Received(path, fields))
            if path == "/languages" and method == "GET":
                body: Any = [
                    {"code": code, "name": name, "targets": sorted(LANGUAGES)}
                    for code, name in LANGUAGES.items()
                ]
            elif path == "/translate" and method == "POST":
                body = self._translate(fields)
            else:
                raise _Error(404, "Not Found")
        except _Error as exc:
            self._send(http, exc.status, {"error": exc.message})
            return
        self._send(http, 200, body)

    def _fields(self, http: BaseHTTPRequestHandler) -> dict[str, Any]:
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length)
        if (http.headers.get("Content-Type") or "").startswith("application/json"):
            try:
                data = json.loads(raw or b"{}")
            except ValueError as exc:
                raise _Error(400, "Invalid request: malformed JSON") from exc
            return dict(data) if isinstance(data, dict) else {}
        return {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}

    def _translate(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self.api_key:
            given = fields.get("api_key")
            if not given:
                raise _Error(400, "Please contact the server operator to get an API key")
            if given != self.api_key:
                raise _Error(403, "Invalid API key")
        for name in ("q", "source", "target"):
            if not fields.get(name):
                raise _Error(400, f"Invalid request: missing {name} parameter")
        q, source, target = fields["q"], fields["source"], fields["target"]
        text_format = fields.get("format") or "text"
        if text_format not in ("text", "html"):
            raise _Error(400, f"{text_format} format is not supported")
        detected = None
        if source == "auto":
            detected = {"confidence": 90.0, "language": "ko"}
            source = "ko"
        for code in (source, target):
            if code not in LANGUAGES:
                raise _Error(400, f"{code} is not supported")
        if isinstance(q, list):
            translated: Any = [self._one(str(t), source, target) for t in q]
        else:
            translated = self._one(str(q), source, target)
        body: dict[str, Any] = {"translatedText": translated}
        if detected is not None:
            body["detectedLanguage"] = detected
        return body

    @staticmethod
    def _one(text: str, source: str, target: str) -> str:
        if source == target:
            return text
        return PHRASES.get((source, target), {}).get(text, f"[{source}→{target}] {text}")

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        http.send_response(status)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)
