"""The units claims and posts are compared in: NFKC text without whitespace, character pairs,
Latin words, numbers in digits (Chinese ones before 成/倍 too) and days in one spelling."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from digests.summarize.document import MARK

LATIN = r"[a-z][a-z0-9+&-]*(?:\.[a-z0-9]+)*"  # a word, "hbm4", "node.js"; not a trailing dot
_UNIT = re.compile(rf"[\u4e00-\u9fff]+|{LATIN}|\d+(?:\.\d+)?")
_NUMBER = re.compile(r"(?<![a-z0-9.])\d+(?:\.\d+)?")
_CN_NUMBER = re.compile(r"([一二两三四五六七八九十]{1,3})(?=成|倍|个点|个百分点)")
DATE = re.compile(
    r"(?:(?P<rel>本|这|下下|下|上)个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
    r"|(?P<md>\d{1,2}月\d{1,2})[日号]?|今晚|今天|明天|后天|明晚|节前|节后|月底|月初"
)
DAY = re.compile(r"^(?:下下|下|上)?周|^\d")  # a weekday or a month's day
_WEEKDAY = {"天": "日", "7": "日"} | dict(zip("123456", "一二三四五六", strict=True))
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}


def norm(text: str) -> str:
    """NFKC, lower case, no whitespace, no "[12]" marks and no ellipsis (a point cut short):
    the form claims are compared in."""
    text = MARK.sub("", unicodedata.normalize("NFKC", text)).replace("...", "")
    return re.sub(r"\s+", "", text).lower()


@lru_cache(maxsize=8192)
def grams(text: str) -> list[str]:
    """The units of comparison: Chinese character pairs (a lone character alone), Latin
    words and numbers."""
    units: list[str] = []
    for run in _UNIT.findall(text):
        if "\u4e00" <= run[0] <= "\u9fff":
            units += [run[i : i + 2] for i in range(len(run) - 1)] if len(run) > 1 else [run]
        else:
            units.append(run)
    return units


def numbers(text: str) -> set[str]:
    """Numbers in a normalised text, Chinese ones before 成/倍/个点 as digits."""
    found = {n.rstrip("0").rstrip(".") if "." in n else n for n in _NUMBER.findall(text)}
    return found | {str(cn_number(m)) for m in _CN_NUMBER.findall(text)}


def dates(text: str) -> set[str]:
    """Date words in a normalised text, in one spelling: 星期五 and 本周五 are 周五."""
    found: set[str] = set()
    for m in DATE.finditer(text):
        if m["wd"]:
            rel = m["rel"] if m["rel"] in ("下", "下下", "上") else ""
            found.add(f"{rel}周{_WEEKDAY.get(m['wd'], m['wd'])}")
        else:
            found.add(m["md"] or m[0])
    return found


def cn_number(text: str) -> int:
    if "十" not in text:
        return sum(_CN_DIGITS[c] * 10**i for i, c in enumerate(reversed(text)))
    tens, _, ones = text.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
