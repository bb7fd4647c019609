"""What every source parser produces: a post not yet stored, and the outcome of storing it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlsplit

Status = Literal["new", "updated", "unchanged", "failed"]


@dataclass
class Draft:
    """A parsed post from any source; `content_hash` decides new, updated or unchanged."""

    slug: str
    source: str  # hexo | feed | page | admin
    title: str
    published_at: datetime
    body_markdown: str
    source_ref: str = ""
    url: str | None = None
    updated_at: datetime | None = None
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    abstract: str = ""
    gated: bool = False
    encrypted: bool = False

    @cached_property
    def content_hash(self) -> str:
        """Hash of everything a reader sees; line endings and trailing spaces do not count."""
        body = "\n".join(map(str.rstrip, self.body_markdown.strip().splitlines()))
        seen = [
            self.title.strip(),
            self.published_at.isoformat(),
            self.categories,
            self.tags,
            self.abstract.strip(),
            self.gated,
            body,
        ]
        return hashlib.sha256(json.dumps(seen, ensure_ascii=False).encode()).hexdigest()


def slug_from_url(url: str) -> str:
    """Hexo's slug from a permalink or path: its last segment, without `.html`; may be ''."""
    path = urlsplit(url).path if "://" in url else url
    name = unquote(PurePosixPath("/" + path.strip("/")).name)
    return "" if name in ("index.html", "index.htm") else name.removesuffix(".html")


@dataclass(frozen=True)
class Outcome:
    """One line of an ingest report: `status  slug  title or reason`."""

    status: Status
    slug: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def line(self) -> str:
        return f"{self.status:<9}  {self.slug}  {self.detail}"


def unexpected(exc: BaseException) -> str:
    """An item's failed line for an error nobody foresaw (a bug): its kind, never its text,
    which may carry anything; the caller logs the trace."""
    return f"could not be processed ({type(exc).__name__}); the log has the details"
