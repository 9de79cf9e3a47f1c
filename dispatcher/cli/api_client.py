"""Client side of the REST API: an authenticated session that turns every failure into one of
two exceptions (refused, or unavailable). ``dispatcher.cli.chunked_upload`` sends contact files
with it; ``dispatcher.cli.campaign`` only parses flags and renders."""

from __future__ import annotations

from typing import IO, Any
from urllib.parse import quote

import requests

TIMEOUT = 10.0


class ApiError(Exception):
    """The API refused the request (4xx); retrying the same request will not help."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.retry_after = field, retry_after


class ApiUnavailable(Exception):
    """Unreachable, timed out or a 5xx: the same request may well succeed later."""

    def __init__(self, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InputError(Exception):
    """A local file (contacts, state, --json) cannot be used as given: a usage error."""


def _after(retry_after: str | None) -> str:
    if not retry_after:
        return ""
    return f"; the server asks to retry after {retry_after}" + (
        " s" if retry_after.isdigit() else "")


def _failure(response: requests.Response) -> ApiError | ApiUnavailable:
    """The exception for an error answer, with the server's message when the body has one
    (a proxy in front of the API may answer with HTML instead)."""
    retry_after = response.headers.get("Retry-After")
    try:
        error = response.json()["error"]
        code, message, where = str(error["code"]), str(error["message"]), error.get("field")
    except (ValueError, KeyError, TypeError):
        code, message, where = f"http-{response.status_code}", response.reason or "error", None
    if response.status_code >= 500:
        return ApiUnavailable(f"the API failed (HTTP {response.status_code}: {message})"
                              + _after(retry_after), retry_after)
    return ApiError(response.status_code, code, message, where, retry_after)


class ApiClient:
    """One ``requests`` session with the key on every request and a timeout on every call."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {api_key}",
                                      "User-Agent": "dispatcher-campaign-cli"})

    def url(self, path: str) -> str:
        """Absolute URLs (a ``rejects_url`` may be one) pass through. Paths are appended to
        the base rather than resolved against it, so a base behind a path prefix works."""
        return path if "://" in path else self.base_url + "/" + path.lstrip("/")

    def request(self, method: str, path: str, *, timeout: float = TIMEOUT,
                **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(method, self.url(path), timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            raise ApiUnavailable(f"cannot reach the API at {self.base_url}: "
                                 f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise _failure(response)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A JSON request and its decoded answer."""
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ApiUnavailable(f"the API at {self.base_url} answered {path} with something "
                                 "that is not JSON; is --api-url right?") from None

    def download(self, path: str, out: IO[bytes], *, skip_header: bool = False) -> None:
        """Stream a CSV answer into ``out``, optionally without its first line, so reports
        of any size never sit in memory."""
        response = self.request("GET", path, stream=True)
        pending = skip_header
        try:
            for piece in response.iter_content(1 << 16):
                if pending:
                    newline = piece.find(b"\n")
                    if newline < 0:
                        continue
                    piece, pending = piece[newline + 1:], False
                out.write(piece)
        except requests.RequestException as exc:
            raise ApiUnavailable(f"the download of {path} broke off: {exc}") from None
        finally:
            response.close()


def campaign_path(campaign: str, *rest: str) -> str:
    return "/".join([f"/v1/campaigns/{quote(campaign, safe='')}", *rest])
