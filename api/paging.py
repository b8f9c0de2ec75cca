"""Paging headers of every offset-paged listing: how many match, and the next page's address.

`X-Total-Count` is the number of items matching the request's filters, whatever `limit` and
`offset`; while more follow, `Link: <...>; rel="next"` is the same request one page further (RFC 8288).
"""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["page_headers"]


def page_headers(request: Request, *, total: int, offset: int, limit: int, **pinned: str) -> dict[str, str]:
    """The headers of the page of `limit` items from `offset` out of `total`.

    `pinned` query parameters are set in the next page's address too (an export fixes its time range
    there, so "now" does not move between pages); every other parameter is kept as the client sent it.
    """
    headers = {"X-Total-Count": str(total)}
    if offset + limit < total:
        next_url = request.url.include_query_params(offset=offset + limit, **pinned)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return headers
