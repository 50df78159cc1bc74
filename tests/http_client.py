"""A minimal browser-like HTTP client for tests against a running platform (cookies, CSRF)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request


class FormClient:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.token = ""
        self.last = ""

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=15) as response:
                status, body = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read().decode()
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if found:
            self.token = found.group(1)
        self.last = body
        return status, body

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, data: dict[str, str] | bytes, token: bool = True) -> tuple[int, str]:
        if isinstance(data, dict):
            fields = {**data, **({"csrfmiddlewaretoken": self.token} if token else {})}
            body = urllib.parse.urlencode(fields).encode()
        else:
            body = data
        request = urllib.request.Request(
            self.base + path,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": self.base,
                "Sec-Fetch-Site": "same-origin",
            },
        )
        return self._open(request)
