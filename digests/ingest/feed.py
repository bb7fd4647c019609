"""RSS 2.0 / Atom feeds (feedparser over httpx, conditional GET) → Drafts.

hexo-generator-feed with `content: true` puts the encrypted block itself in each entry; such
entries are decrypted here with the known passwords.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax import SAXException

import feedparser
import httpx

from digests.errors import DigestbotError, FetchFailed, RejectedInput
from digests.ingest import hbe
from digests.ingest.draft import Draft, Outcome, slug_from_url, unexpected
from digests.ingest.hexo import checked_date
from digests.ingest.text import html_to_markdown
from digests.models import Source, utcnow
from digests.redact import error_text

log = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 20 * 1024 * 1024
_FEED_TYPES = ("xml", "rss", "atom")
_FEED_STARTS = (b"<?xml", b"<rss", b"<feed", b"<rdf:RDF")


async def fetch(
    http: httpx.AsyncClient, url: str, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    """GET a URL; a 304 is returned as is, any other non-2xx is FetchFailed."""
    try:
        async with http.stream("GET", url, headers=headers, follow_redirects=True) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise FetchFailed("response is over 20 MB; refused")
    except httpx.HTTPError as exc:
        raise FetchFailed(f"cannot fetch: {error_text(exc)}") from exc
    if response.status_code != 304 and not response.is_success:
        raise FetchFailed(f"server answered HTTP {response.status_code} {response.reason_phrase}")
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        content=bytes(body),
        request=response.request,
    )


def looks_like_feed(response: httpx.Response) -> bool:
    """By content type, else by the first bytes: feeds are often served as text/plain."""
    kind = response.headers.get("content-type", "").lower()
    if any(word in kind for word in _FEED_TYPES) and "html" not in kind:
        return True
    return response.content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(_FEED_STARTS)


def conditional_headers(source: Source) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from the previous successful poll."""
    headers = {}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    return headers


def remember(source: Source, response: httpx.Response | None) -> None:
    """Record the poll; validators only from a response whose entries were all taken."""
    source.last_polled_at = utcnow()
    source.etag = response.headers.get("etag") if response is not None else None
    source.last_modified = response.headers.get("last-modified") if response is not None else None
    source.last_status = "ok" if response is not None else "some entries failed"


def parse_feed(
    content: bytes, *, url: str, passwords: Sequence[str]
) -> tuple[list[Draft], list[Outcome]]:
    """Entries as Drafts, and a failed Outcome for each entry (or the feed) that cannot be."""
    # sanitize_html=False: the sanitizer would delete the <script id="hbeData"> that carries
    # the encrypted post; we never render feed HTML, we convert it to markdown.
    parsed = feedparser.parse(content, sanitize_html=False, resolve_relative_uris=False)
    problem = parsed.get("bozo_exception")
    # Not well-formed XML (a truncated or broken feed) is refused whole: half a feed's entries
    # are not to be trusted, and the whole feed is retried on the next poll.
    if isinstance(problem, SAXException) or (parsed.bozo and not parsed.entries):
        return [], [Outcome("failed", url, f"not a valid RSS/Atom feed: {problem}")]
    drafts: list[Draft] = []
    failures: list[Outcome] = []
    for entry in parsed.entries:
        slug = entry_slug(entry)
        try:
            drafts.append(_entry_draft(entry, slug=slug, passwords=passwords))
        except DigestbotError as exc:
            failures.append(Outcome("failed", slug, str(exc)))
        except Exception as exc:  # a bug must cost this entry only, not the feed
            log.exception("feed %s: entry %s could not be read", url, slug)
            failures.append(Outcome("failed", slug, unexpected(exc)))
    return drafts, failures


def entry_slug(entry: Any) -> str:
    """The last path segment of the entry's link (Hexo's slug), else a hash of its id."""
    link = entry.get("link") or ""
    if name := slug_from_url(link):
        return name
    ident = entry.get("id") or link or entry.get("title", "")
    return "entry-" + hashlib.sha256(ident.encode()).hexdigest()[:16]


def _entry_draft(entry: Any, *, slug: str, passwords: Sequence[str]) -> Draft:
    title = (entry.get("title") or "").strip()
    # dict.get, not entry.get: feedparser's own maps a missing key to the other, with a warning.
    published = dict.get(entry, "published_parsed")
    updated = dict.get(entry, "updated_parsed")
    stamp = published or updated
    if not title:
        raise RejectedInput("entry has no title")
    if stamp is None:
        raise RejectedInput("entry has no date (published or updated)")
    contents = entry.get("content") or []
    html = contents[0].get("value", "") if contents else entry.get("summary", "")
    encrypted = hbe.is_encrypted(html)
    if encrypted:
        html = hbe.decrypt_html(html, passwords)
    return Draft(
        slug=slug,
        source="feed",
        source_ref=entry.get("id") or entry.get("link") or slug,
        url=entry.get("link"),
        title=title,
        published_at=_utc(stamp, "date"),
        updated_at=_utc(updated, "updated") if updated else None,
        categories=[t.get("term", "") for t in entry.get("tags", []) if t.get("term")],
        # With full content present, the summary is the author's abstract (hbe's teaser).
        abstract=html_to_markdown(entry.get("summary", "")) if contents else "",
        body_markdown=html_to_markdown(html),
        gated=encrypted,
        encrypted=encrypted,
    )


def _utc(stamp: Any, field: str) -> datetime:
    # feedparser gives UTC struct_times
    try:
        moment = datetime.fromtimestamp(calendar.timegm(stamp), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise RejectedInput(f"entry {field} is out of range") from exc
    return checked_date(moment, field=f"entry {field}")
