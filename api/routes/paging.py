"""Paging links for feature collections."""

from __future__ import annotations

from fastapi import Request

from api.schemas import Link


def page_links(request: Request, *, matched: int, limit: int, offset: int) -> list[Link]:
    """``self``, and ``next``/``prev`` where there is such a page."""
    links = [Link(href=str(request.url), rel="self")]
    if offset + limit < matched:
        links.append(
            Link(href=str(request.url.include_query_params(offset=offset + limit)), rel="next")
        )
    if offset > 0:
        prev = max(offset - limit, 0)
        links.append(Link(href=str(request.url.include_query_params(offset=prev)), rel="prev"))
    return links
