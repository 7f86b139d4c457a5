"""ConnectWise paging: ``page``/``pageSize`` queries and the ``Link`` header (``<url>; rel="next", ...``).

The client reads links with ``connectors.http.LinkPaging`` (httpx's ``Response.links``); the sandbox writes them.
"""

from __future__ import annotations

from seatsync.connectors.http import LinkPaging

PAGE_SIZE = 1000  # ConnectWise's cap


def connectwise_paging(page_size: int = PAGE_SIZE) -> LinkPaging:
    return LinkPaging(page_size=page_size)


def format_link_header(links: dict[str, str]) -> str:
    """The sandbox's side: ``{"next": url}`` -> ``<url>; rel="next"``."""
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
