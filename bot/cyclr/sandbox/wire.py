"""The request and response values passed between the HTTP handler and the route code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .recording import canonical_header

__all__ = ["HTML_TYPE", "JSON_TYPE", "Request", "Response"]

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request: decoded path without query, canonical header names, raw body.

    ``host`` is the Host header's name; ``remote`` the client's IP address.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    host: str = ""
    remote: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(canonical_header(name))

    def param(self, name: str) -> str | None:
        """A query parameter by name, ignoring case as ASP.NET model binding does."""
        wanted = name.lower()
        for key, value in self.query.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(slots=True)
class Response:
    """A complete answer; the handler adds Content-Length and the common headers."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> Response:
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(status, payload, JSON_TYPE, dict(headers or {}))

    @classmethod
    def message(cls, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        """Cyclr's error shape: ``{"Message": "..."}``."""
        return cls.json(status, {"Message": message}, headers)

    @classmethod
    def html(cls, status: int, page: str, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, page.encode("utf-8"), HTML_TYPE, dict(headers or {}))

    @classmethod
    def empty(cls, status: int = 200) -> Response:
        return cls(status, b"", None)
