"""What a password looks like, so that a bare message is taken as an unlock attempt only when
it could be one: 你好, 在吗 or 谢谢 from a reader who has not unlocked yet get the help, and
never cost one of the five tries.

A shape is the password's runs of character classes and its length: `ld2602` is letters then
digits, six characters, "a9:6". It is derived from each password when the admin adds it (and,
for passwords stored before shapes were, at their first unlock) and kept next to the hash. It
says little an attacker could use: the author's passwords follow one published pattern
(ld + YYMM) anyway, and the hash is what protects them.

A message matches a stored shape with the same classes in the same order and a length within
SLACK of it (a mistyped digit is still an attempt, and is told so). With no shape stored yet,
a message matches when it is one word of 4–64 characters holding a digit.
"""

from __future__ import annotations

import re
import unicodedata

from sqlmodel import select

from digests.models import AccessPassword
from digests.replies import StoreContext

SLACK = 2  # characters more or fewer than a stored password that still count as a try
_FALLBACK = re.compile(r"(?=\S*\d)\S{4,64}")


def _kind(char: str) -> str:
    if char.isascii() and char.isalpha():
        return "a"
    if char.isdigit():
        return "9"
    if char.isspace():
        return " "
    if unicodedata.category(char).startswith("L"):
        return "文"  # a letter of any other script: Chinese small talk
    return char  # punctuation stands for itself


def shape(text: str) -> str:
    """`ld2602` → "a9:6": the runs of character classes, then the length."""
    runs: list[str] = []
    for char in text.strip():
        kind = _kind(char)
        if not runs or runs[-1] != kind:
            runs.append(kind)
    return f"{''.join(runs)}:{len(text.strip())}"


def matches(text: str, shapes: list[str]) -> bool:
    """Whether a message has one of the stored `shapes` (see the module docstring); "" is a
    password whose shape is not known yet."""
    if ("" in shapes or not shapes) and _FALLBACK.fullmatch(text.strip()):
        return True
    runs, _, length = shape(text).rpartition(":")
    for known in shapes:
        known_runs, _, known_length = known.rpartition(":")
        if known and runs == known_runs and abs(int(length) - int(known_length or 0)) <= SLACK:
            return True
    return False


async def looks_like_password(ctx: StoreContext, text: str) -> bool:
    """Whether a bare message is shaped like one of the admin's passwords."""
    async with ctx.sessions() as session:
        stored = (await session.exec(select(AccessPassword.shape))).all()
    return matches(text, sorted(set(stored)))
