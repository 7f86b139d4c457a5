"""Post/redirect/get: a form's action answers 303 to a page, carrying its one-line outcome in a short-lived cookie
that the next page shows once (a reload then shows the page, never re-sends the form)."""

from __future__ import annotations

import base64
import json

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

FLASH_COOKIE = "seatsync_flash"
#: a cookie stays well under browsers' 4 KB
MAX_TEXT = 2000


def flash_redirect(url: str, message: str, kind: str = "ok", **extra: str) -> RedirectResponse:
    """303 to ``url``; the page shows ``message`` (``kind`` ``ok`` or ``error``) once. ``extra`` values (e.g. a
    new API token, shown once) travel with it: the cookie is HttpOnly, SameSite=Strict and lives a minute."""
    response = RedirectResponse(url, status_code=303)
    body = {"m": message[:MAX_TEXT], "k": kind if kind in ("ok", "error", "warn") else "ok", **extra}
    value = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
    response.set_cookie(FLASH_COOKIE, value, max_age=60, httponly=True, samesite="strict", path="/")
    return response


def read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else None


def forget_flash(request: Request, response: Response) -> None:
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")
