"""ConnectWise paging: the ``Link`` header (``<url>; rel="next", ...``). Pure functions."""

from __future__ import annotations

import re

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_PARAM = re.compile(r';\s*([A-Za-z]+)\s*=\s*"?([^";,]*)"?')

PAGE_SIZE = 1000  # ConnectWise's cap


def parse_link_header(value: str | None) -> dict[str, str]:
    """``{"next": url, "last": url, ...}``; an absent or empty header gives ``{}``."""
    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK.finditer(value):
        url, params = match.group(1), match.group(2)
        for name, param in _PARAM.findall(params):
            if name.lower() == "rel":
                for rel in param.split():
                    links.setdefault(rel.lower(), url)
    return links


def next_url(value: str | None) -> str | None:
    return parse_link_header(value).get("next")


def format_link_header(links: dict[str, str]) -> str:
    """The sandbox's side: ``{"next": url}`` -> ``<url>; rel="next"``."""
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
