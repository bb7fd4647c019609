"""Tokenisation for the archive index, the same for documents and queries.

Chinese has no spaces, so a run of CJK characters becomes its overlapping character bigrams
(存储芯片 → 存储 储芯 芯片): any two-character word is one token, a longer word a phrase of
bigrams. Latin and number runs are words, case-folded after NFKC (ＣＰＯ → cpo). Every token is
spelled in ASCII letters and digits (a CJK bigram as x + five hex digits per character): both
SQLite's unicode61 tokenizer and PostgreSQL's default parser then keep each token whole, in
every database locale, and a character's code is a prefix of its bigrams' (for one-character
queries).

Every new post is tokenised as it is stored, so this is the hot loop of ingestion
(bench/ingest.py): the work is done by C-level string methods a run at a time, never in Python
a character or a bigram at a time.
"""

from __future__ import annotations

import re
import unicodedata

_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xAC00, 0xD7AF))
_CJK = "".join(f"{chr(first)}-{chr(last)}" for first, last in _RANGES)
_RUNS = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")  # a CJK run, or a run of other letters/digits
MAX_TERMS = 8  # words of a query; more only slows the query down

# every CJK character → its five hex digits, for str.translate: a run's codes in one C call (a
# list indexed by code point: faster to look up than a dict; a run holds only CJK characters)
_HEX: list[str | None] = [None] * (max(last for _, last in _RANGES) + 1)
for _first, _last in _RANGES:
    _HEX[_first : _last + 1] = [f"{c:05x}" for c in range(_first, _last + 1)]
# Chinese punctuation, which NFKC would only turn into other punctuation (no token either way):
# as spaces, most posts are already NFKC-normal and skip its cost (a third of tokenising).
# Not here: what NFKC makes a letter, digit or CJK character (･ → ・ U+30FB, say), and anything
# combining (tests/test_archive_tokens.py checks each of these against NFKC).
PUNCTUATION = re.compile(
    "[\u2014\u2018\u2019\u201c\u201d\u2026\u3000-\u3003\u3008-\u3011\u3014-\u301f"
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff64]+"
)
_WORD = "\b"  # marks a word among the hex codes while they are joined (see as_text)
_BIGRAMS: dict[int, list[slice]] = {}  # run length → where its bigrams are in its codes


def _code(chars: str) -> str:
    return "x" + "".join(f"{ord(c):05x}" for c in chars)


def _bigrams(length: int) -> list[slice]:
    found = _BIGRAMS.get(length)
    if found is None:
        found = _BIGRAMS[length] = [slice(i, i + 10) for i in range(0, 5 * length - 5, 5)]
    return found


def normal(text: str) -> str:
    """NFKC and case-folded, as the index reads every text."""
    text = PUNCTUATION.sub(" ", text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.casefold()


def as_text(text: str) -> str:
    """The tokens of a text in reading order, space-separated: the form stored in the index."""
    # Each token is collected without its leading x (a run's bigrams are slices of the run's
    # codes, taken by map in C); the x's come back in the one join, and words, marked, lose
    # theirs again in one replace.
    out: list[str] = []
    for run, word in _RUNS.findall(normal(text)):
        if word:
            out.append(_WORD + word if word.isascii() else _code(word)[1:])
        elif len(run) == 1:
            out.append(_code(run)[1:])
        else:
            where = _BIGRAMS.get(len(run)) or _bigrams(len(run))
            out += map(run.translate(_HEX).__getitem__, where)
    return ("x" + " x".join(out)).replace("x" + _WORD, "") if out else ""


def tokens(text: str) -> list[str]:
    """The index tokens of a text, in reading order."""
    return as_text(text).split()


def query_terms(query: str) -> list[list[str]]:
    """A query's terms, each a phrase of tokens: words the reader separated by spaces must all
    match; within a word the tokens must follow each other (a phrase)."""
    terms = [tokens(part) for part in query.split()]
    return [term for term in terms if term][:MAX_TERMS]


def single_char(term: list[str]) -> bool:
    """A lone CJK character: matched as a prefix of the bigrams it starts."""
    return len(term) == 1 and term[0].startswith("x") and len(term[0]) == 6


def words(query: str) -> list[str]:
    """The query's words as the reader typed them (normalised), for snippets and highlighting."""
    folded = unicodedata.normalize("NFKC", query).casefold()
    return [part for part in folded.split() if part][:MAX_TERMS]
