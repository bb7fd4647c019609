"""Hexo markdown posts: YAML front matter + markdown body → Draft.

Hexo's front matter is loose (dates as YAML timestamps or strings, categories as a string, a
list or nested lists), so each field is normalised here and nowhere else.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from frontmatter.default_handlers import YAMLHandler

from digests.errors import RejectedInput
from digests.ingest.draft import Draft, slug_from_url

MAX_POST_BYTES = 2 * 1024 * 1024
MARKDOWN_SUFFIXES = (".md", ".markdown")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FRONT = YAMLHandler()
# The C loader parses front matter about 10x faster; PyYAML without libyaml still works.
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DATE_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y.%m.%d %H:%M:%S")
# Something shaped like a date (2026-02-30, 2026/13/01) that the calendar refuses.
_DATE_SHAPE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,2}\b")
# A post dated outside these years is a typo; the bounds also keep every later computation
# (UTC conversion, +1 day, the calendar's week) clear of datetime's own limits (years 1–9999).
FIRST_YEAR, LAST_YEAR = 1900, 2999


class _Loader(_BASE_LOADER):  # type: ignore[misc]  # PyYAML is untyped
    """Safe YAML whose impossible timestamps (`date: 2026-02-30 10:00:00`) stay text: PyYAML
    would raise ValueError from inside the parser, so parse_date can say what is wrong."""


def _timestamp(loader: Any, node: Any) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def read_post_file(path: Path, *, tz: ZoneInfo) -> Draft:
    """Read and parse one post file; RejectedInput says why it cannot be taken."""
    size = path.stat().st_size
    if size > MAX_POST_BYTES:
        raise RejectedInput(f"file is {size / 1048576:.1f} MB; posts over 2 MB are refused")
    return parse_post(path.read_bytes(), stem=path.stem, source_ref=str(path), tz=tz)


def parse_post(
    raw: bytes, *, stem: str, source_ref: str, tz: ZoneInfo, source: str = "hexo"
) -> Draft:
    """Parse a Hexo post's bytes (front matter + markdown)."""
    meta, body = _split(decode_text(raw))
    title = _text(meta.get("title")) or _first_heading(body)
    if not title:
        raise RejectedInput("no title: the front matter has none and the body has no heading")
    if meta.get("date") in (None, ""):
        raise RejectedInput("no date: add `date: YYYY-MM-DD HH:MM:SS` to the front matter")
    password = _text(meta.get("password"))
    encrypted = meta.get("encrypted") is True
    return Draft(
        slug=slug_from_url(_text(meta.get("link") or meta.get("slug"))) or stem,
        source=source,
        source_ref=source_ref,
        title=title,
        published_at=parse_date(meta["date"], tz=tz, field="date"),
        updated_at=parse_date(meta["updated"], tz=tz, field="updated")
        if meta.get("updated")
        else None,
        categories=_names(meta.get("categories")),
        tags=_names(meta.get("tags")),
        abstract=_text(meta.get("abstract")) or _text(meta.get("description")),
        body_markdown=body,
        gated=bool(password) or encrypted,
        encrypted=encrypted,
    )


def _split(text: str) -> tuple[dict[str, Any], str]:
    """Front matter (a mapping, possibly empty) and the markdown body."""
    if not _FRONT.detect(text):
        return {}, text.strip()
    head, body = _FRONT.split(text)
    try:
        meta = yaml.load(head, Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""  # +2: after the ---
        raise RejectedInput(f"front matter is not valid YAML{line}") from exc
    if not isinstance(meta, dict):
        raise RejectedInput("front matter is not a set of `key: value` lines")
    return meta, body.strip()


def decode_text(raw: bytes) -> str:
    """UTF-8 (BOM tolerated), else GB18030 (older Chinese editors); binary data is refused."""
    if b"\x00" in raw[:8192]:
        raise RejectedInput("binary file, not a markdown post")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise RejectedInput("text is neither UTF-8 nor GB18030") from exc


def parse_date(value: Any, *, tz: ZoneInfo, field: str) -> datetime:
    """A front-matter date as an aware datetime; naive values are in `tz`. A date the calendar
    does not have, or one outside FIRST_YEAR–LAST_YEAR, is RejectedInput with a sentence."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        parsed = _parse_date_text(str(value).strip(), field)
    aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    return checked_date(aware, field=field, shown=str(value).strip())


def checked_date(moment: datetime, *, field: str, shown: str = "") -> datetime:
    """`moment` (aware) if its year, in UTC and as given, lies in FIRST_YEAR–LAST_YEAR."""
    try:
        years = (moment.year, moment.astimezone(UTC).year)
    except OverflowError:  # 0001-01-01 00:00 +08:00 is before datetime's first instant
        years = (0, 0)
    if not all(FIRST_YEAR <= year <= LAST_YEAR for year in years):
        raise RejectedInput(
            f"{field} {shown or moment.isoformat()} is out of range "
            f"(years {FIRST_YEAR}–{LAST_YEAR})"
        )
    return moment


def _parse_date_text(text: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    if _DATE_SHAPE.match(text):
        raise RejectedInput(f"{field} {text} is not a real date")
    raise RejectedInput(f"{field} {text!r} is not a date (use YYYY-MM-DD HH:MM:SS)")


def _names(value: Any) -> list[str]:
    """Categories/tags: a string, a list, or Hexo's nested lists for hierarchies, flattened."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        names: list[str] = []
        for item in value:
            names.extend(name for name in _names(item) if name not in names)
        return names
    return [str(value).strip()]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _first_heading(body: str) -> str:
    match = _HEADING.search(body)
    return match.group(1).strip() if match else ""
