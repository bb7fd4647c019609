"""Per-reader fingerprints in digest text: invisible marks that survive copy and paste, so a
leaked digest names the reader it was sent to (`digestbot trace`, digests/tracing.py).

What a mark says (48 bits, in three chunks):

    chunk 0  reader tag, high 16 bits  ┐ tag = HMAC-SHA256(key, "channel:external_id")[:4]:
    chunk 1  reader tag, low 16 bits   ┘ derived, nothing stored; unforgeable without the key
    chunk 2  medium (2 bits: message, page, mass-send) + publication id mod 16384 (14 bits)

Each chunk is written as 22 bits (2 of chunk index, 16 of data, a 4-bit CRC) in two
characters: U+200C ZERO WIDTH NON-JOINER = 0, U+200D ZERO WIDTH JOINER = 1. They are the
invisible characters every messenger must keep, because Persian, Indic scripts and emoji
sequences (👨‍👩‍👧) need them; Telegram and WeChat keep them in text and in copies of it,
where U+200B or U+2060 may be trimmed. A lone ZWJ in an emoji sequence is a run of one, never
our 22, and the CRC rejects runs that happen to be that long.

One chunk goes into every line (at its end, after closing tags: never inside a tag, an
entity, a word or a link; never in a message's last line, which Telegram trims),
cycling 0, 1, 2, so any three consecutive marked lines hold the whole mark, and two lines
already name the reader.

Cost: a digest is rendered once per publication; `template()` finds the insertion points once
(also per publication), and `stamp()` per reader is one str.join. The channel's limit is kept
by counting the marks' size up front (render with room, see `MARK_UTF16`/`MARK_UTF8`) and by
`room`: a part that could not hold every mark gets marks on its first lines only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property

ZERO, ONE = "\u200c", "\u200d"
CHUNKS = 3
MARK_LEN = 22  # characters per chunk: 2 index + 16 data + 4 CRC bits
MARK_UTF16 = MARK_LEN  # both characters are one UTF-16 unit…
MARK_UTF8 = MARK_LEN * 3  # …and three UTF-8 bytes
PUBLICATION_BITS = 14
NOTICE = "注：每份摘要都带有按读者区分的隐形标记，复制或转发的内容可追溯到接收者，请勿外传。"
_RUN = re.compile(f"[{ZERO}{ONE}]+")
_DEMO_KEY = b"digestbot demo fingerprints (no secret configured)"
_LABEL = b"digestbot fingerprints"


class Medium(IntEnum):
    """Where the marked copy came from."""

    MESSAGE = 0  # a Telegram/WeChat/console message (outbox or conversation)
    PAGE = 1  # the digest page /d/{token}
    MASS = 2  # a WeChat mass-send: the same for every recipient, so no reader in it


@dataclass(frozen=True)
class Mark:
    """What one reader's copy carries."""

    tag: int  # 32 bits; 0 = nobody in particular (a mass-send)
    medium: Medium
    publication: int  # a publication id, kept mod 2**PUBLICATION_BITS

    @cached_property
    def chunks(self) -> tuple[str, str, str]:
        """The three chunks as invisible text (computed once per mark)."""
        low = (int(self.medium) << PUBLICATION_BITS) | (self.publication % (1 << PUBLICATION_BITS))
        return (_chunk(0, self.tag >> 16), _chunk(1, self.tag & 0xFFFF), _chunk(2, low))


def key(secret: str | None) -> bytes:
    """The fingerprint key from FINGERPRINT_SECRET (or the bot's first secret, see
    `Settings.fingerprint_material`); without any (the console demo) a fixed key, so marks
    still trace but could be forged."""
    if not secret:
        return _DEMO_KEY
    return hmac.new(_LABEL, secret.encode(), hashlib.sha256).digest()


def reader_tag(fingerprint_key: bytes, channel: str, external_id: str) -> int:
    """A reader's 32-bit tag: keyed, so nobody without the key can frame another reader."""
    digest = hmac.new(fingerprint_key, f"{channel}:{external_id}".encode(), hashlib.sha256)
    return int.from_bytes(digest.digest()[:4], "big") or 1  # 0 means "no reader"


def mark_for(
    fingerprint_key: bytes, channel: str, external_id: str, publication: int, medium: Medium
) -> Mark:
    """The mark of one reader's copy of one publication."""
    return Mark(reader_tag(fingerprint_key, channel, external_id), medium, publication)


def short_id(tag: int) -> str:
    """A reader's short id, as the page's visible watermark shows it (`trace` prints it too)."""
    return f"{tag:08X}"


@dataclass(frozen=True)
class Template:
    """A text cut at its insertion points: len(pieces) == slots + 1."""

    pieces: tuple[str, ...]

    @property
    def slots(self) -> int:
        """How many chunks the text takes when every line is marked."""
        return len(self.pieces) - 1


def template(text: str, *, last_line: bool = False) -> Template:
    """Where marks go in `text` (plain or Telegram HTML): at the end of each line, after its
    closing tags, so what readers search for stays whole. Not in a line with a link (the mark
    would join the URL), and not in the last line unless `last_line` (a message's end is
    trimmed). Done once per rendered part."""
    pieces: list[str] = []
    start = 0
    lines = _lines(text)
    for number, (line_start, line) in enumerate(lines):
        if number == len(lines) - 1 and not last_line:
            break
        at = _insertion(line)
        if at is not None:
            pieces.append(text[start : line_start + at])
            start = line_start + at
    pieces.append(text[start:])
    return Template(tuple(pieces))


def stamp(tmpl: Template, mark: Mark, *, room: int | None = None, first: int = 0) -> str:
    """The text with `mark` in its first `room` slots (all when None), chunk `first` first."""
    chunks = mark.chunks
    used = tmpl.slots if room is None else max(0, min(room, tmpl.slots))
    pieces = tmpl.pieces
    out = [pieces[0]]
    for slot in range(used):
        out += (chunks[(first + slot) % CHUNKS], pieces[slot + 1])
    if used < tmpl.slots:
        out.append("".join(pieces[used + 1 :]))
    return "".join(out)


def stamp_parts(
    templates: list[Template], mark: Mark, rooms: list[int | None] | None = None
) -> list[str]:
    """Every part of a message, the chunk cycle carried on from part to part."""
    out, first = [], 0
    for index, tmpl in enumerate(templates):
        room = rooms[index] if rooms else None
        out.append(stamp(tmpl, mark, room=room, first=first))
        first = (first + (tmpl.slots if room is None else min(room, tmpl.slots))) % CHUNKS
    return out


def within_utf8(text: str, mark: Mark, limit: int, tail: str) -> str:
    """A plain text (WeChat) marked and within `limit` UTF-8 bytes: clipped first so that up
    to three whole marks fit, then marked in the room left."""
    reserve = min(template(text).slots, 3 * CHUNKS) * MARK_UTF8
    data = text.encode()
    if len(data) > limit - reserve:
        text = data[: limit - reserve - len(tail.encode())].decode(errors="ignore") + tail
    room = (limit - len(text.encode())) // MARK_UTF8
    return stamp(template(text), mark, room=room)


def strip(text: str) -> str:
    """The text without our marks (runs of exactly our characters)."""
    return _RUN.sub(lambda m: m.group() if len(m.group()) % MARK_LEN else "", text)


@dataclass(frozen=True)
class Found:
    """What a text's marks say: each chunk's most common valid value, and how many marks."""

    values: dict[int, int]  # chunk index → data
    marks: int

    @property
    def tag_high(self) -> int | None:
        return self.values.get(0)

    @property
    def tag_low(self) -> int | None:
        return self.values.get(1)

    @property
    def medium(self) -> Medium | None:
        low = self.values.get(2)
        if low is None or (low >> PUBLICATION_BITS) >= len(Medium):
            return None
        return Medium(low >> PUBLICATION_BITS)

    @property
    def publication(self) -> int | None:
        low = self.values.get(2)
        return None if low is None else low & ((1 << PUBLICATION_BITS) - 1)


def find(text: str) -> Found:
    """The marks in a pasted text: runs of our two characters, MARK_LEN at a time, each
    checked by its CRC; per chunk the majority wins (a damaged mark is outvoted)."""
    votes: dict[int, Counter[int]] = {}
    marks = 0
    for run in _RUN.findall(text):
        for at in range(0, len(run) - MARK_LEN + 1, MARK_LEN):
            decoded = _unchunk(run[at : at + MARK_LEN])
            if decoded is not None:
                index, data = decoded
                votes.setdefault(index, Counter())[data] += 1
                marks += 1
    values = {index: count.most_common(1)[0][0] for index, count in votes.items()}
    return Found(values, marks)


def _lines(text: str) -> list[tuple[int, str]]:
    found, at = [], 0
    for line in text.split("\n"):
        found.append((at, line))
        at += len(line) + 1
    return found


def _insertion(line: str) -> int | None:
    """The offset at the end of the line (before trailing spaces): after its closing tags in
    HTML, so a mark is never inside a tag, an entity, a word or a formatted span."""
    if "://" in line or not any(char.isalnum() for char in line):
        return None
    return len(line.rstrip())


def _crc4(value: int, bits: int) -> int:
    """CRC-4 (x⁴ + x + 1) of the `bits` low bits of value."""
    crc = 0
    for shift in range(bits - 1, -1, -1):
        top = ((crc >> 3) & 1) ^ ((value >> shift) & 1)
        crc = ((crc << 1) & 0xF) ^ (0x3 if top else 0)
    return crc


def _chunk(index: int, data: int) -> str:
    word = (index << 16) | (data & 0xFFFF)
    word = (word << 4) | _crc4(word, 18)
    return "".join(ONE if (word >> shift) & 1 else ZERO for shift in range(MARK_LEN - 1, -1, -1))


def _unchunk(run: str) -> tuple[int, int] | None:
    word = int("".join("1" if char == ONE else "0" for char in run), 2)
    body = word >> 4
    if _crc4(body, 18) != word & 0xF or (body >> 16) >= CHUNKS:
        return None
    return body >> 16, body & 0xFFFF
