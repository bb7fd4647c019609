"""Tokenisation for the archive index, the same for documents and queries.

Chinese has no spaces, so a run of CJK characters becomes its overlapping character bigrams
(存储芯片 → 存储 储芯 芯片): any two-character word is one token, a longer word a phrase of
bigrams. Latin and number runs are words, case-folded after NFKC (ＣＰＯ → cpo). Every token is
spelled in ASCII letters and digits (a CJK bigram as x + five hex digits per character): both
SQLite's unicode61 tokenizer and PostgreSQL's default parser then keep each token whole, in
every database locale, and a character's code is a prefix of its bigrams' (for one-character
queries).
"""

from __future__ import annotations

import re
import unicodedata

_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xAC00, 0xD7AF))
_CJK = "".join(f"{chr(first)}-{chr(last)}" for first, last in _RANGES)
_RUNS = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")  # a CJK run, or a run of other letters/digits
MAX_TERMS = 8  # words of a query; more only slows the query down


# every CJK character → its five hex digits, for str.translate: a run's codes in one C call
_HEX = {c: f"{c:05x}" for first, last in _RANGES for c in range(first, last + 1)}


def _code(chars: str) -> str:
    return "x" + "".join(f"{ord(c):05x}" for c in chars)


def tokens(text: str) -> list[str]:
    """The index tokens of a text, in reading order."""
    out: list[str] = []
    for run, word in _RUNS.findall(unicodedata.normalize("NFKC", text).casefold()):
        if word:
            out.append(word if word.isascii() else _code(word))
        elif len(run) == 1:
            out.append(_code(run))
        else:  # the hot loop of indexing: the run's codes at once, then its bigrams as slices
            codes = run.translate(_HEX)
            out.extend(["x" + codes[i : i + 10] for i in range(0, len(codes) - 5, 5)])
    return out


def as_text(text: str) -> str:
    """The tokens as one space-separated string, the form stored in the index."""
    return " ".join(tokens(text))


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
    normal = unicodedata.normalize("NFKC", query).casefold()
    return [part for part in normal.split() if part][:MAX_TERMS]
