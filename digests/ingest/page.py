"""A single web page (an admin's `/post URL`) → Draft: decrypt if encrypted, else extract.

trafilatura finds the article among navigation and footers; an encrypted Hexo page needs no
extraction, since the decrypted block is exactly the post body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

import trafilatura
from lxml import html as lxml_html

from digests.errors import RejectedInput
from digests.ingest import hbe
from digests.ingest.draft import Draft, slug_from_url
from digests.ingest.hexo import parse_date
from digests.ingest.text import html_to_markdown
from digests.models import utcnow

_PUBLISHED = (
    '//meta[@property="article:published_time"]/@content',
    '//meta[@itemprop="datePublished"]/@content',
    "//time[@datetime]/@datetime",
)


def parse_page(html: str, *, url: str, passwords: Sequence[str], tz: ZoneInfo) -> Draft:
    """Parse a fetched page; RejectedInput when it has no article text."""
    if not html.strip():
        raise RejectedInput("the page is empty")
    meta = trafilatura.extract_metadata(html, default_url=url)
    encrypted = hbe.is_encrypted(html)
    if encrypted:
        body = html_to_markdown(hbe.decrypt_html(html, passwords))
    else:
        body = (
            trafilatura.extract(
                html,
                url=url,
                output_format="markdown",
                include_links=True,
                include_images=True,
                include_comments=False,
                favor_recall=True,
            )
            or ""
        )
    if not body.strip():
        raise RejectedInput("no article text found on the page")
    title = (meta.title if meta and meta.title else "").strip()
    return Draft(
        slug=slug_from_url(url) or "page-" + hashlib.sha256(url.encode()).hexdigest()[:16],
        source="page",
        source_ref=url,
        url=url,
        title=title or body.strip().splitlines()[0].lstrip("# ")[:80],
        published_at=_published(html, meta.date if meta else None, tz),
        categories=list(meta.categories or []) if meta else [],
        tags=list(meta.tags or []) if meta else [],
        body_markdown=body.strip(),
        gated=encrypted,
        encrypted=encrypted,
    )


def _published(html: str, fallback: str | None, tz: ZoneInfo) -> datetime:
    """The page's own publish time (meta tags carry the hour), else its date, else now."""
    root = lxml_html.fromstring(html)
    for query in _PUBLISHED:
        for value in cast(list[str], root.xpath(query)):
            try:
                return parse_date(str(value), tz=tz, field="published time")
            except RejectedInput:
                continue
    if fallback:
        return parse_date(fallback, tz=tz, field="date")
    return utcnow()
