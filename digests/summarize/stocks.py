"""The stocks a post names, where it names them, and whether it lists them.

A stock is an entry of the securities dictionary (digests/names) that the post writes in one
of its forms. A name the dictionary lacks (a new listing, a private company) counts only where
the post *lists* it, in a list most of whose items are dictionary names, and only when it has
the shape of a company's name (stocks._unknown_name). A name that is also an ordinary word
(the dictionary's `common`: 机器人, 太阳能) counts only where it is listed; so does an
abbreviation the dictionary gives (腾讯 for 腾讯控股, 小熊 for 小熊电器), unless the post also
writes the full name: in prose such short words are as often a platform, a customer or a
nickname as the stock. A digest's entry may name a four-character name by its first or last
two characters when the post writes it whole (旭创 is 中际旭创).

A *list* is a sentence, or what follows its last colon, made of two or more short items apart
by 、，；/ or spaces, at least half of them dictionary names; or a table column headed like a
name column (公司, 标的, 名称…), whose cells are listed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from digests.summarize.document import Document, Kind

_ITEMS = re.compile(r"[、，,；;/]+|(?<=[\u4e00-\u9fffA-Za-z])\s+(?=[\u4e00-\u9fffA-Za-z])")
_PAREN = re.compile(r"（[^）]*）|\([^)]*\)|【[^】]*】")
_NAME_COLUMN = re.compile(r"公司|标的|名称|股票|个股|简称|证券|企业")
_CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{3,6}$")
_LATIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9&.-]{1,24}$")
_FUNCTION = re.compile(r"[的是了在和与及或也都就要会很把被这那我你他们个些不没有将已可能更最]")
_TAIL = re.compile(r"(?:等等|等|们)$")
LIST_ITEM_CHARS = 12  # an item of a list of names: a name and a word or two around it
# how Chinese company names end (a listing the dictionary does not have yet still does)
_COMPANY = re.compile(
    r"(?:科技|股份|集团|控股|电子|技术|光电|通信|智能|材料|新材|医药|药业|生物|能源|电气|电器|"
    r"电力|信息|软件|网络|汽车|装备|精密|半导体|微电子|传感|动力|机械|重工|化工|光学|数据|"
    r"航天|航空|智造|实业|国际|传媒|文化|食品|银行|证券|保险|环境|环保|矿业|钢铁|物流|激光)$"
)


def fold(text: str) -> str:
    """NFKC without whitespace: the form names are compared in."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@dataclass
class Named:
    """A stock of the post: its name as the post writes it (in full: 美团, not 美团-W or
    the abbreviation), its code ("" when the dictionary lacks it), the sentences naming it
    and whether one of them lists it."""

    name: str
    code: str = ""
    sentences: list[int] = field(default_factory=list)
    listed: bool = False
    common: bool = False
    forms: frozenset[str] = frozenset()  # every form of its security, folded (upper case)

    @property
    def counts(self) -> bool:
        """Named as a stock: not an ordinary word merely used in prose."""
        return self.listed or not self.common


class Stocks:
    """Every stock the post names (see the module docstring), found once per post."""

    def __init__(self, doc: Document, names: Any) -> None:
        self.doc, self._names = doc, names
        self.named: dict[str, Named] = {}
        self.written: set[str] = set()  # every form in which the post writes a stock as one
        for sentence in doc.sentences:
            mentions = names.find(sentence.text)
            listed = self.list_in(sentence.text)
            for mention in mentions:
                listed_here = _in(mention.text, listed)
                self._add(mention, sentence.number, listed_here)
                if not mention.common:  # 苹果 the fruit is no stock's writing
                    self.written.add(mention.text)
            known = {fold(m.text) for m in mentions}
            dictionary = sum(any(k in fold(i) for k in known) for i in listed)
            for item in listed:  # a name the dictionary lacks, in a list of names
                if not any(k in fold(item) for k in known) and _unknown_name(
                    item, dictionary, len(listed)
                ):
                    self._add_unknown(item, sentence.number)
        for mention in names.find(doc.title):
            self._add(mention, 0, False)
        self._columns()

    def _add(self, mention: Any, number: int, listed: bool) -> None:
        security = mention.security
        loose = mention.common or _abbreviated(mention.form, security.name)
        named = self.named.get(security.name)
        if named is None:
            forms = frozenset(fold(f).upper() for f in (*security.forms, security.name))
            named = Named(_shown(mention), code_of(security), common=loose, forms=forms)
            self.named[security.name] = named
        elif named.common and not loose:
            named.name = _shown(mention)  # the full writing, not the abbreviation
        if number and number not in named.sentences:
            named.sentences.append(number)
        named.listed |= listed
        named.common &= loose  # one full, unambiguous writing makes it a name

    def list_in(self, text: str) -> list[str]:
        """The items of the list of stocks a sentence is (or ends with): two dictionary names
        at least, and half its items; [] for prose."""
        items = listed_items(text)
        known = sum(self._is_name(item) for item in items)
        return items if known >= 2 and known * 2 >= len(items) else []

    def _is_name(self, item: str) -> bool:
        """A short item that ends with a name the dictionary has (龙头天孚通信, 腾讯的科华数据)."""
        if len(item) > LIST_ITEM_CHARS:
            return False
        return any(
            fold(item).endswith(fold(m.text)) for m in self._names.find(item) if not m.common
        )

    def _add_unknown(self, item: str, number: int) -> None:
        named = self.named.setdefault(item, Named(item, listed=True))
        if number not in named.sentences:
            named.sentences.append(number)

    def _columns(self) -> None:
        """Table columns of names: their cells are listed."""
        header: tuple[str, ...] = ()
        for block in self.doc.blocks:
            if block.kind is not Kind.row:
                header = ()
                continue
            if block.header:
                header = block.cells
                continue
            for index, cell in enumerate(block.cells):
                named_column = index < len(header) and _NAME_COLUMN.search(header[index])
                found = self._names.find(cell)
                for mention in found:
                    self._add(mention, block.first, True)
                if named_column and not found and _name_shaped(cell):
                    self.named.setdefault(cell, Named(cell, listed=True)).sentences.append(
                        block.first
                    )

    def within(self, numbers: range | list[int]) -> list[Named]:
        """The stocks named as stocks in these sentences, in the order first named there."""
        wanted = set(numbers)
        found = [n for n in self.named.values() if n.counts and wanted & set(n.sentences)]
        return sorted(found, key=lambda n: min(s for s in n.sentences if s in wanted))

    def halves(self) -> dict[str, str]:
        """The post's own short forms of its four-character stocks: the half fewer listed
        names share (宁德 of 宁德时代, 平安 of 中国平安; never one many share: 中国, 科技), where
        the post writes it outside the full name; half → the stock's key."""
        text = "".join(s.text for s in self.doc.sentences)
        shared = _shared_halves(self._names)
        found: dict[str, str] = {}
        for key, named in self.named.items():
            name = named.name
            chinese = re.fullmatch(r"[\u4e00-\u9fff]+", name)
            if not named.code or not named.counts or len(name) < 4 or not chinese:
                continue
            rest = text.replace(name, "，")
            # the half fewer names share is the one a name goes by: 宁德 of 宁德时代
            half = min((name[:2], name[-2:]), key=lambda h: shared[h])
            if half in rest and shared[half] <= SHARED and half not in found:
                found[half] = key
        return found

    def resolve(self, written: str) -> Named | None:
        """The post's stock a digest's entry names, or None when the post names no such
        stock: a dictionary name it writes (a common word only where it lists it), a name it
        lists, or two characters of a four-character name it writes whole."""
        key = fold(written)
        if not key:
            return None
        found = [n for n in self.named.values() if key.upper() in n.forms or key == n.name]
        if (
            not found
            and self._names.lookup(key) is None
            and re.fullmatch(r"[\u4e00-\u9fff]{2}", key)
        ):
            found = [n for n in self.named.values() if n.code and _halves(n.name, key)]
        counted = [n for n in found if n.counts]
        return counted[0] if len(counted) == 1 else None


def finder(names: Any, stocks: Stocks | None = None) -> Callable[[str], list[tuple[int, int, str]]]:
    """The dictionary as claims.Evidence looks names up: (start, end, key) of every mention
    that is not an ordinary word (苹果 the fruit); abbreviations (天孚, 小熊) count, a claim
    being as precise about whom it speaks of as its post. With the post's `stocks`, the
    halves of its four-character names that it writes on their own count too (沐曦 for
    沐曦股份 where the post says 沐曦), unless a half is a company-name ending (股份, 科技)."""
    halves = stocks.halves() if stocks is not None else {}
    pattern = re.compile("|".join(map(re.escape, sorted(halves, key=len, reverse=True))))

    @lru_cache(maxsize=4096)  # a post's sentences and clauses are looked up again and again
    def find(text: str) -> list[tuple[int, int, str]]:
        found = [(m.start, m.end, m.security.name) for m in names.find(text) if not m.common]
        if halves:
            found += [
                (m.start(), m.end(), halves[m.group()])
                for m in pattern.finditer(text)
                if not any(s <= m.start() < e for s, e, _ in found)
            ]
        return sorted(found)

    return find


SHARED = 3  # listed names starting or ending with a half, past which it names none of them


@lru_cache(maxsize=4)
def _shared_halves(names: Any) -> Counter[str]:
    """How many listed Chinese names start or end with each two characters."""
    counted: Counter[str] = Counter()
    for security in names.securities:
        name = fold(security.name)
        if len(name) >= 4 and re.fullmatch(r"[\u4e00-\u9fff]+", name):
            counted.update({name[:2], name[-2:]})
    return counted


def _halves(name: str, key: str) -> bool:
    return len(name) >= 4 and key in (name[:2], name[-2:])


def _abbreviated(form: str, name: str) -> bool:
    """A Chinese form shorter than the listed name that is not the name without its
    share-class or HK marker (京东方A → 京东方 and 美团-W → 美团 are the name; 腾讯 is not), or
    a Latin form of three letters or fewer (BD, GE: as often words as names)."""
    whole = fold(name).upper()
    if form.isascii():
        return len(form) <= 3
    if len(form) >= len(whole):
        return False
    bare = re.sub(r"^\*?ST|[-－]?[A-Z]{1,3}$", "", whole)
    return fold(form).upper() != bare


def code_of(security: Any) -> str:
    codes = getattr(security, "codes", None)
    return str(codes[0]) if codes else str(getattr(security, "code", ""))


def listed_items(sentence: str) -> list[str]:
    """The items of the list a sentence is (or ends with), or [] when it is prose."""
    tail = re.split(r"[：:]", _PAREN.sub("", sentence))[-1]
    items = [_TAIL.sub("", i.strip(" 。.！!？?")) for i in _ITEMS.split(tail)]
    items = [i for i in items if i]
    if len(items) < 2:
        return []
    short = [i for i in items if len(i) <= 10]
    return items if len(short) * 2 >= len(items) else []


def _in(written: str, items: list[str]) -> bool:
    """The name is what a list item ends with: its head (腾讯的科华数据 lists 科华数据)."""
    key = fold(written)
    return any(fold(item).endswith(key) for item in items)


def _shown(mention: Any) -> str:
    """How a stock is shown: as the post writes it, unless that is an abbreviation."""
    written = fold(mention.text)
    return mention.security.name if _abbreviated(written, mention.security.name) else written


def _name_shaped(item: str) -> bool:
    """Three to six Chinese characters without a function word, or a Latin name."""
    item = item.strip()
    if _LATIN_NAME.match(item):
        return True
    return bool(_CHINESE_NAME.match(item)) and not _FUNCTION.search(item)


def _unknown_name(item: str, known: int, items: int) -> bool:
    """A list item the dictionary lacks is a name when it has the shape of one and either
    ends like a company's name (…科技, …股份) or stands among three dictionary names at
    least, three in four of the list: "性价比一般" in a short list is a remark, not a stock."""
    if not _name_shaped(item):
        return False
    return bool(_COMPANY.search(item)) or (known >= 3 and known * 4 >= items * 3)
