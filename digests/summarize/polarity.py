"""Which way a clause points: the negations and the directions authors write in, so that a
claim saying 下调 of a sentence saying 上调 (or 加杠杆 of 卸杠杆, 反对 of 支持) is caught although
the two share almost every character.

A *direction* is a pair of antonym word sets on one axis (涨/跌, 上调/下调, 支持/反对…); axes of
one family answer the same question ("which way does it go?"), so 下调 contradicts 上涨 although
they are different axes. A negation flips every direction word after it in its clause (不看好 is
看空, 不建议大家梭哈 does not 梭哈); a refusal after the proposal ("喜欢梭哈，我不建议") is read
before it. A negation with no direction word after it negates the word that follows it, which
the other side must not say plainly ("不建议换掉" against "建议换掉"). The word lists are
Chinese, not any post's: antonyms and negators of the language, and the words in which
不/没/无/未/非/别 negate nothing (不仅, 没想到, 无论, 未来, 非常, 非农, 特别, 要不要…).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

# (axis, family, words one way, words the other way); regular expressions, longest first
_AXES: tuple[tuple[str, str, str, str], ...] = (
    ("expectation", "view", "超预期|超出预期|好于预期|高于预期|强于预期",
     "低于预期|不及预期|逊于预期|弱于预期|不如预期|差于预期"),
    ("stance", "view", "支持|赞成|认可|同意|看好|看多|乐观|青睐",
     "反对|否定|拒绝|不看好|看空|看淡|悲观|唱空"),
    ("impact", "view", "利好|受益|获益", "利空|受损|拖累|承压"),
    ("valuation", "value", "便宜|低估|性价比高", "贵|高估|泡沫"),
    ("membership", "membership", "进入|加入|纳入|入选|入围|打入|切入|获得订单|拿到订单",
     "排除|出局|剔除|踢出|退出|无缘|落选|移出|丢失订单"),
    ("position", "risk",
     "加仓|增持|买入|建仓|抄底|上车|补仓|加配|超配|追高|追涨|梭哈|押注|追(?![踪求溯问究责加赶])",
     "减仓|减持|卖出|清仓|止盈|离场|下车|低配|减配|止损|落袋"),
    ("fullness", "risk", "满仓|重仓|加满|高仓位", "降仓|轻仓|空仓|低仓位|小仓位"),
    ("leverage", "risk", r"加[^，,。；;]{0,3}杠杆|上杠杆|带[^，,。；;]{0,2}杠杆|加杠杆|融资买入",
     r"卸[^，,。；;]{0,2}杠杆|杠杆[^，,。；;]{0,2}卸|去杠杆|降杠杆|减杠杆|杠杆[^，,。；;]{0,2}降"),
    ("supply", "supply", "供不应求|紧缺|短缺|缺货|供给偏紧", "供过于求|过剩|供给宽松|库存积压"),
    ("rate", "rate", "加息|升息", "降息|减息"),
    ("adjust", "direction", "上调|调高|上修|调升|提价|涨价", "下调|调低|下修|调降|降价|跌价"),
    ("rise", "direction", "上涨|大涨|暴涨|涨停|涨|走高|拉升|飙升|反弹|新高|上行",
     "下跌|大跌|暴跌|跌停|跌|走低|回落|回调|跳水|新低|下行|杀跌"),
    ("amount", "direction", "增加|增长|提升|扩大|上升|扩产|放量|增多|加大|加快|加速|扩张|翻倍",
     "减少|下降|缩小|减产|收窄|缩量|降低|放缓|减弱|萎缩|减半|下滑"),
    ("trend", "direction", "回暖|复苏|改善|好转|向好|走强|强势|偏强",
     "恶化|走弱|弱势|偏弱|转差|疲软|低迷"),
    ("compare", "direction",
     r"高于|多于|大于|超过|强于|领先|跑赢|比[^，,。；;]{1,12}?(?:还|更)?(?:高|多|大|强)(?![\u4e00-\u9fff])",
     r"低于|少于|小于|弱于|落后|跑输|不及|(?:不到|不足)(?=\d|[一二两三四五六七八九十半])|"
     r"比[^，,。；;]{1,12}?(?:还|更)?(?:低|少|小|弱)(?![\u4e00-\u9fff])"),
    ("timing", "timing", "提前|提早", "推迟|延后|延迟|延期|往后推|后推|推后"),
    ("result", "result", "盈利|赚钱|扭亏|增收", "亏损|亏钱|亏"),
)  # fmt: skip
OPINION = frozenset({"view", "risk"})  # what the author thinks of a name, and advises on it
# Negators, and the words in which 不/没/无/未/非/别 negate nothing.
_NEGATOR = re.compile(
    r"不要|不用|不必|不能|不会|不该|不宜|不是|并非|绝非|而非|没有|没人|没|未|无人|无一|无需|"
    r"无须|无法|毫无|几无|别|勿|莫|不|无"
)
_NOT_NEGATIONS = re.compile(
    r"不仅|不只|不光|不但|不断|不少|不错|不过|不管|不论|不同|不久|不妨|不然|不得不|不亦|"
    r"不一定|说不定|差不多|了不起|忍不住|少不了|免不了|离不开|不外乎|不失为|不可思议|"
    r"没想到|没办法|无论|无非|未来|未必|非常|非农|特别|分别|区别|类别|级别|个别|识别|告别|"
    r"差别|鉴别|辨别|别人|别的|别处|莫过于|莫名|毫无疑问|不一样|不一致|无限|无数|无疑|无比|"
    r"无穷|无形|无线|无人机|无人驾驶|无锡|无所谓|"
    r"([\u4e00-\u9fff])[不没]\1"  # 要不要, 能不能, 有没有: a question, not a negation
)
# "…，我不建议": advice refused after the proposal; read as if it came first
_REFUSED = re.compile(
    r"^(?:我的建议是|建议是|我|我们|笔者|作者)?(?:也|并|还是|都)?"
    r"(?:不要|不建议|不推荐|不赞成|不看好|不认同|不支持|不做|不碰|不买|不参与)(?:这么做|这样做)?$"
)
# both ways at once: a word for movement, not a direction (一天涨跌8个点)
# a clause about what would happen if: compared with what the post says would happen if
HYPOTHETICAL = re.compile(r"若|如果|假如|假设|一旦|要是|万一|倘若")
_BOTH_WAYS = re.compile(r"涨跌|涨涨跌跌|升降|多空|起落|增减")
_CLAUSE = re.compile(r"[，,；;。！!？?：:\n]")
_BREAK = re.compile(r"[，,；;。！!？?：:\n]|但是?|而且?|却|可是|不过|只是|反而")
# a verb, 不/没, and a complement of result ("跟不上", "撑不住", "做不完")
_COMPLEMENT = re.compile(r"[\u4e00-\u9fff][不没][上下了住到动起完掉出来去好成懂清见开过透着]")
_VERBS = set("加减买卖追碰拿跟动")  # what a trader does, said in one character
_MODAL = "(?<![不没别])(?:要|可以|可|能|会|就|再|先|去|也|应该)"
_CONDITION = re.compile(r"的时候|时候|时|的话|前提下|之前|之后|以前|以后")
_PLAIN = set("的了是在和与及也都就还而但又很更最个家只")  # says nothing of what is negated


@dataclass(frozen=True)
class Direction:
    """A direction word found in a clause, and its sign after any negation before it."""

    axis: str
    family: str
    sign: int  # +1 one way, -1 the other
    start: int
    end: int
    negated: bool = False  # flipped by a negation (start is the negation's)


_COMPILED = tuple(
    (axis, family, re.compile(up), re.compile(down)) for axis, family, up, down in _AXES
)
_ANY = re.compile("|".join(f"{up}|{down}" for _, _, up, down in _AXES))  # most clauses: none


@lru_cache(maxsize=4096)  # the same source clauses are read for every claim of a post
def directions(clause: str) -> list[Direction]:
    """The direction words of a clause (no overlaps: the longest word wins), each signed
    after the negation that stands just before it."""
    found: list[Direction] = []
    if not _ANY.search(clause):
        return found
    neutral = [(m.start(), m.end()) for m in _BOTH_WAYS.finditer(clause)]
    for axis, family, up, down in _COMPILED:
        for sign, pattern in ((1, up), (-1, down)):
            found += [
                Direction(axis, family, sign, m.start(), m.end()) for m in pattern.finditer(clause)
            ]
    found.sort(key=lambda d: (d.start, -(d.end - d.start)))
    kept: list[Direction] = []
    for direction in found:  # the longest word at a place: 低于预期, not 低于
        spans = [(k.start, k.end) for k in kept] + neutral
        if not any(s < direction.end and direction.start < e for s, e in spans):
            kept.append(direction)
    negations = negators(clause, [(d.start, d.end) for d in kept])
    return [_negated(d, negations, clause) for d in kept]


def negators(clause: str, inside: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """Spans of the negating words of a clause, leaving out those inside `inside` spans
    (a direction word such as 不及预期 or 供不应求) and those that negate nothing (不仅…)."""
    idioms = [(m.start(), m.end()) for m in _NOT_NEGATIONS.finditer(clause)]
    spans: list[tuple[int, int]] = []
    for match in _NEGATOR.finditer(clause):
        at = match.start()
        if any(s <= at < e for s, e in (*idioms, *inside)):
            continue
        spans.append((at, match.end()))
    return spans


def _negated(direction: Direction, negations: list[tuple[int, int]], text: str) -> Direction:
    # a negation reaches to the end of its clause (不建议大家梭哈 does not 梭哈), or to a
    # contrast (不动但不加仓: only 不加仓 is about 加仓)
    flips = [
        start
        for start, end in negations
        if end <= direction.start and not _BREAK.search(text, end, direction.start)
    ]
    if len(flips) % 2 == 0:
        return direction
    # the span shown in a reason starts at the negation: "尚未支持", not "支持"
    return Direction(
        direction.axis, direction.family, -direction.sign, flips[0], direction.end, negated=True
    )


@lru_cache(maxsize=4096)
def negated_parts(text: str) -> list[tuple[int, int]]:
    """The spans a text's negations negate where no direction word follows them (those flip
    the direction instead): from each to the end of its clause or a contrast (不要幻想下个季度
    会好 negates 幻想下个季度会好)."""
    found = directions(text)
    parts: list[tuple[int, int]] = []
    spans = negators(text, [(d.start, d.end) for d in found])
    for start, end in spans:
        stop = _BREAK.search(text, end)
        until = stop.start() if stop else len(text)
        # to the next negation, list comma or condition's end at the latest (未完、看不到拐点;
        # 没有杠杆时，6-7成比较合理)
        until = min([until, *(s for s, _ in spans if s >= end)])
        if condition := _CONDITION.search(text, end, until):
            until = condition.start()
        if (comma := text.find("、", end, until)) >= 0:
            until = comma
        if _COMPLEMENT.match(text, start - 1) and start > 0:
            until = end + 1  # 跟不上, 撑不住: the negation is of the complement alone
        if end < until and not any(end <= d.start < until for d in found):
            parts.append((end, until))
    return parts


def _units(text: str) -> set[str]:
    """Character pairs of a text's Chinese runs (a lone character alone), and its words."""
    units: set[str] = set()
    for run in re.findall(r"[\u4e00-\u9fff]+|[a-z0-9]+", text):
        units |= {run[i : i + 2] for i in range(len(run) - 1)} if len(run) > 1 else {run}
    return units


def _said_plainly(part: str, text: str) -> bool:
    """Most of `part` (the characters a negation of the other side covers) is in `text`
    outside its negations, and `text` does not negate it too ("不高" and "性价比不高"). A
    one-character part is a trading verb said plainly at a clause's end ("别追" of "要追")."""
    flipped = [(d.start, d.end) for d in directions(text) if d.negated]
    spans = negated_parts(text) + flipped
    negated = set("".join(text[s:e] for s, e in spans))
    plain = {ch for i, ch in enumerate(text) if not any(s <= i < e for s, e in spans)}
    if len(part) == 1:
        return part in _VERBS and bool(re.search(rf"{_MODAL}{part}(?![\u4e00-\u9fff])", text))
    wanted = {ch for ch in part if "\u4e00" <= ch <= "\u9fff" or ch.isalnum()} - _PLAIN
    said, denied = len(wanted & plain), len(wanted & negated)
    return bool(wanted) and said * 2 > len(wanted) and said > denied


@lru_cache(maxsize=4096)
def fronted(text: str) -> str:
    """The text with an advice refused after its proposal ("喜欢梭哈一条线，我不建议") put
    before it ("我不建议喜欢梭哈一条线"), so that the refusal negates the proposal."""
    parts = _CLAUSE.split(text)
    for i in range(1, len(parts)):
        if _REFUSED.match(parts[i]) and parts[i - 1]:
            parts[i - 1], parts[i] = parts[i] + parts[i - 1], ""
    return "，".join(p for p in parts if p)


def clauses(text: str) -> list[str]:
    """A text's clauses: cut at commas, semicolons, colons, stops, line breaks and contrasts
    ("下跌概率约七成但涨幅不大" is two)."""
    return [c for c in _BREAK.split(text) if c and c.strip()]


def conflict(claim: str, source: str, *, wider: str = "", negations: bool = True) -> str:
    """Why the claim points the other way from the source ("" when it does not): a direction
    word of the claim against the source's on its axis (or, failing that, its family), or
    against `wider`'s (the source's whole sentence) when the source has neither; else a span
    one side negates that the other says plainly. `claim` and `source` are comparable
    pieces (a clause and the source clauses it was aligned with), normalised the same way;
    `negations=False` compares directions only."""
    claim, source = fronted(claim), fronted(source)
    if HYPOTHETICAL.search(claim) and not HYPOTHETICAL.search(source):
        return ""  # "若没降息…" is no claim about what the post expects ("预期降息")
    if reason := _in_place(claim, source):
        return reason
    mine = directions(claim)
    # an axis the claim itself takes both ways ("复苏可能偏弱") says no one direction, nor
    # does a family ("重仓建议节前部分止盈": 重仓 is the condition, 止盈 the advice)
    mixed = {d.axis for d in mine if any(o.axis == d.axis and o.sign != d.sign for o in mine)}
    either = {
        d.family for d in mine if any(o.family == d.family and o.sign != d.sign for o in mine)
    }
    mine = [d for d in mine if d.axis not in mixed]
    for place in (source, fronted(wider)) if wider else (source,):
        theirs = directions(place)
        for direction in mine:
            families = direction.family not in either and place is source  # not the wider's
            for key in ("axis", "family") if families else ("axis",):
                same = [d for d in theirs if getattr(d, key) == getattr(direction, key)]
                if not same:
                    continue
                if {d.sign for d in same} == {-direction.sign}:
                    word, said = (
                        claim[direction.start : direction.end],
                        place[same[0].start : same[0].end],
                    )
                    return f"says {word} where the post says {said}"
                break
        mine = [d for d in mine if not any(d.family == t.family for t in theirs)]
    if not negations:
        return ""
    for start, end in negated_parts(claim):
        if _said_plainly(claim[start:end], source):
            return f"negates {claim[start:end]}, which the post says"
    for start, end in negated_parts(source):
        if _said_plainly(source[start:end], claim):
            return f"drops the post's negation of {source[start:end]}"
    return ""


def _in_place(claim: str, source: str) -> str:
    """A direction word after the same two characters on both sides, the other way round
    ("环比下滑20%" of "环比增长20%", "可能偏强" of "可能偏弱"): found even where either side also
    says the other way elsewhere (a clause with both 放量 and 下滑)."""
    theirs = {source[max(d.start - 2, 0) : d.start]: d for d in directions(source) if d.start >= 2}
    for mine in directions(claim):
        other = theirs.get(claim[max(mine.start - 2, 0) : mine.start]) if mine.start >= 2 else None
        if other is not None and other.axis == mine.axis and other.sign == -mine.sign:
            word, said = claim[mine.start : mine.end], source[other.start : other.end]
            return f"says {word} where the post says {said}"
    return ""


def _signs(found: list[Direction], key: str) -> dict[str, set[int]]:
    signs: dict[str, set[int]] = {}
    for d in found:
        signs.setdefault(getattr(d, key), set()).add(d.sign)
    return signs
