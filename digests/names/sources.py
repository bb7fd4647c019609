"""Readers of what a snapshot is built from (SOURCE.md says why these): the registry packages,
and the hand-maintained files in `curated/` (the foreign names no package ships, and corrections
of known source errors).

Each package is read as data, never imported: found as an installed distribution or as a file
downloaded with `pip download --no-deps NAME==VERSION -d DIR` (a wheel, or jieba's sdist), so
building needs none of their own dependencies.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import sqlite3
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

from digests.errors import NamesSnapshotInvalid
from digests.names.fold import listed, written
from digests.names.snapshot import CODE_PATTERNS, MARKETS


@dataclass(frozen=True)
class Package:
    """A source package's files, from a site-packages install or a downloaded archive."""

    name: str
    version: str
    origin: Path  # the archive, or the installed distribution's root

    @property
    def label(self) -> str:
        """How rows and SOURCE.md name it: `adata 2.9.5`."""
        return f"{self.name} {self.version}"

    def read(self, member: str) -> bytes:
        """The bytes of `member` (a path inside the package, e.g. `adata/stock/cache/code.csv`)."""
        if self.origin.suffix == ".whl":
            with zipfile.ZipFile(self.origin) as archive:
                return archive.read(member)
        if self.origin.name.endswith(".tar.gz"):
            with tarfile.open(self.origin) as archive:
                for entry in archive.getmembers():
                    if entry.name.endswith("/" + member):
                        extracted = archive.extractfile(entry)
                        if extracted is not None:
                            return extracted.read()
            raise FileNotFoundError(f"{member} not in {self.origin}")
        return (self.origin / member).read_bytes()


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def find_package(name: str, *, downloads: Path | None = None) -> Package | None:
    """The newest `name` among the archives in `downloads`, else the installed one, else None."""
    if downloads is not None:
        stem = re.sub(r"[-_.]+", "_", name).lower()
        found: list[tuple[tuple[int, ...], str, Path]] = []
        for path in downloads.iterdir() if downloads.is_dir() else ():
            named = re.match(r"^(.+?)-(\d[^-]*?)(?:-py.*\.whl|\.tar\.gz)$", path.name)
            if named and re.sub(r"[-_.]+", "_", named.group(1)).lower() == stem:
                found.append((_version_key(named.group(2)), named.group(2), path))
        if found:
            _, version, path = max(found)
            return Package(name, version, path)
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    return Package(name, dist.version, Path(str(dist.locate_file(""))))


@dataclass(frozen=True)
class SourceRow:
    """One listing as a source gives it, before the market rules make forms of it."""

    code: str
    market: str
    name: str
    source: str
    short: tuple[str, ...] = ()
    english: str | None = None


def a_share_market(code: str) -> str | None:
    """SH, SZ or BJ for a six-digit A/B-share code, by the exchanges' code ranges."""
    if re.fullmatch(r"(60|68|90)\d{4}", code):
        return "SH"
    if re.fullmatch(r"(00|30|20)\d{4}", code):
        return "SZ"
    if re.fullmatch(r"(4|8)\d{5}|92\d{4}", code):
        return "BJ"
    return None


def adata_rows(package: Package) -> Iterator[SourceRow]:
    """adata's `code.csv`: every A-share listed up to its date; rows without a listing date are
    companies already delisted (PT…, …退) and are left out."""
    text = package.read("adata/stock/cache/code.csv").decode("utf-8-sig")
    for row in csv.DictReader(io.StringIO(text)):
        code, market = row["stock_code"].strip(), a_share_market(row["stock_code"].strip())
        if market and row["short_name"].strip() and row["list_date2"].strip():
            yield SourceRow(f"{code}.{market}", market, listed(row["short_name"]), package.label)


def _entities(package: Package) -> sqlite3.Connection:
    database = sqlite3.connect(":memory:")
    database.deserialize(package.read("matchina/data/entities.db"))
    return database


def matchina_rows(package: Package) -> Iterator[SourceRow]:
    """matchina's entities: A-shares (names without ST markers), Hong Kong listings (less the
    8xxxx renminbi counters, the same companies again) and a few US-listed Chinese companies
    (keyed `US`+ticker or `U`+ticker); short names from the rows it marks verified."""
    query = "SELECT id, name_cn, name_en, name_short_cn, stock_code, source, verified FROM entities"
    us_tickers: set[str] = set()
    for key, name, english, short, code, kind, verified in _entities(package).execute(query):
        name = listed(name or "")
        # short names of its curated rows only: in bulk rows they are the name cut mechanically
        # (不同集团 → 不同, 有利集团 → 有利), which would name a company in every other post
        shorts = tuple(s for s in [listed(short or "")] if verified and s and s != name)
        if kind == "ashare":
            code = code or (key[1:] if re.fullmatch(r"A\d{6}", key) else "")
            market = a_share_market(code)
            if market and name:
                yield SourceRow(f"{code}.{market}", market, name, package.label, shorts)
        elif kind == "hk_stock" and code and re.fullmatch(r"\d{5}", code) and code < "80000":
            yield SourceRow(f"{code}.HK", "HK", name, package.label, shorts)
        elif kind == "us_stock":
            ticker = key[2:] if key.startswith("US") else key[1:]
            name = re.sub(r"-US$", "", name)
            if ticker in us_tickers or not re.fullmatch(r"[A-Z]+", ticker):
                continue  # the same ticker from the older `U` batch
            us_tickers.add(ticker)
            yield SourceRow(f"{ticker}.US", "US", name, package.label, shorts, english)


def cnequity_bj_codes(package: Package) -> dict[str, str]:
    """Beijing listings' old codes (43xxxx, 83xxxx, 87xxxx) to the 920xxx codes they moved to."""
    raw = package.read("cnequity/adapters/eastmoney/seeds/bse_code_mapping.json")
    mapping: dict[str, str] = json.loads(raw)
    return mapping


# pytickersymbols' Yahoo suffixes outside the US; its US indices list bare tickers (`BRK.B`)
YAHOO_MARKETS = {
    "T": "JP", "DE": "DE", "L": "GB", "PA": "FR", "MC": "ES", "AS": "NL", "ST": "SE",
    "HE": "FI", "BR": "BE", "SW": "CH", "MI": "IT", "KS": "KR", "TW": "TW",
}  # fmt: skip
US_INDICES = frozenset({"S&P 500", "S&P 100", "S&P 600", "NASDAQ 100", "DOW JONES"})


def pytickersymbols_rows(package: Package) -> Iterator[SourceRow]:
    """English names of index constituents (S&P 500/600, NASDAQ 100, Dow, Nikkei 225, DAX…)
    from pytickersymbols' generated `indices_data.py`, read as a literal, never imported. A US
    index's symbol is a US ticker; elsewhere the Yahoo suffix gives the market, and a symbol
    without one (a foreign index member's US line) is left out."""
    tree = ast.parse(package.read("pytickersymbols/indices_data.py").decode("utf-8"))
    indices: dict[str, dict[str, list[dict[str, object]]]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "INDICES":
            indices = ast.literal_eval(node.value)
    seen: set[str] = set()
    for index_name, index in indices.items():
        for company in index.get("companies", []):
            symbol, name = str(company.get("symbol") or "").upper(), str(company.get("name") or "")
            if index_name in US_INDICES:
                ticker, market = symbol, "US"
            else:
                ticker, _, suffix = symbol.rpartition(".")
                market = YAHOO_MARKETS.get(suffix.upper(), "")
            code = f"{ticker}.{market}"
            pattern = r"[A-Z][A-Z0-9.\-]*" if market == "US" else r"[A-Z0-9][A-Z0-9\-]*"
            if not (market and name and re.fullmatch(pattern, ticker)) or code in seen:
                continue
            seen.add(code)
            # the English name is the listed name here; the US market rule adds its forms
            yield SourceRow(code, market, listed(name), package.label, english=name)


def jieba_lexicon(package: Package) -> str:
    """jieba's dict.txt (word, frequency, part of speech per line)."""
    return package.read("jieba/dict.txt").decode("utf-8")


def _curated_sheet(path: Path, needed: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a curated CSV with their line numbers; comment lines (`#`) are skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise NamesSnapshotInvalid(path, f"cannot be read ({exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in needed if c not in (reader.fieldnames or [])]
    if missing:
        raise NamesSnapshotInvalid(path, f"header lacks {', '.join(missing)}", row=1)
    for row in reader:
        if (row.get(needed[0]) or "").lstrip().startswith("#"):
            continue
        if None in row:
            raise NamesSnapshotInvalid(path, "more fields than the header has", row=reader.line_num)
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _forms(path: Path, number: int, cell: str) -> tuple[str, ...]:
    forms = tuple(f for f in cell.split("|") if f)
    if any(written(f) != f for f in forms):
        raise NamesSnapshotInvalid(path, "a form has whitespace or is not NFKC", row=number)
    return forms


CURATED_LABEL = "curated"


def curated_rows(path: Path) -> list[SourceRow]:
    """The hand-maintained listings of `curated/foreign.csv` (`code,market,name,forms,…`): each
    is a SourceRow whose `short` are its forms; a malformed row names the file and the row."""
    rows: list[SourceRow] = []
    seen: dict[str, int] = {}
    for number, row in _curated_sheet(path, ("code", "market", "name", "forms")):
        code, market, name = row["code"], row["market"], listed(row["name"])
        ticker, _, suffix = code.rpartition(".")
        pattern = CODE_PATTERNS.get(market, r"[A-Z0-9][A-Z0-9.\-]*")
        if market not in MARKETS or suffix != market or not re.fullmatch(pattern, ticker):
            raise NamesSnapshotInvalid(
                path, f"{code!r} is not a code of market {market!r}", row=number
            )
        if not name or name != row["name"]:
            raise NamesSnapshotInvalid(
                path, f"name {row['name']!r} is empty or not NFKC", row=number
            )
        if code in seen:
            raise NamesSnapshotInvalid(path, f"{code} is already on row {seen[code]}", row=number)
        seen[code] = number
        rows.append(
            SourceRow(code, market, name, CURATED_LABEL, _forms(path, number, row["forms"]))
        )
    return rows


@dataclass(frozen=True)
class Correction:
    """One known error of a source package, fixed at build time: in `source`'s row for `code`,
    `field` (name, short or english) reads `was` and is made `now` (`short`: `|`-separated,
    empty for none; `english`: empty for none)."""

    source: str  # the package's name, `matchina`
    code: str
    field: str
    was: str
    now: str
    reason: str
    reference: str

    def value(self, row: SourceRow) -> str:
        """What `row` holds in this correction's field, as the `was` column writes it."""
        if self.field == "short":
            return "|".join(row.short)
        return (row.english or "") if self.field == "english" else row.name

    def apply(self, row: SourceRow) -> SourceRow:
        """`row` with this correction's field made `now`."""
        if self.field == "short":
            return replace(row, short=tuple(f for f in self.now.split("|") if f))
        if self.field == "english":
            return replace(row, english=self.now or None)
        return replace(row, name=self.now)


CORRECTED_FIELDS = ("name", "short", "english")


def corrections(path: Path) -> list[Correction]:
    """`curated/corrections.csv`: every row names its source, code, field, the wrong value it
    replaces, the right one, the reason and where the right one can be checked."""
    found: list[Correction] = []
    columns = ("source", "code", "field", "was", "now", "reason", "reference")
    for number, row in _curated_sheet(path, columns):
        correction = Correction(**{c: row[c] for c in columns})
        if correction.field not in CORRECTED_FIELDS:
            raise NamesSnapshotInvalid(path, f"field {correction.field!r} is not one of "
                                       f"{', '.join(CORRECTED_FIELDS)}", row=number)  # fmt: skip
        if correction.field == "name" and not correction.now:
            raise NamesSnapshotInvalid(path, "a name cannot be corrected to nothing", row=number)
        if correction.field == "short":
            _forms(path, number, correction.now)
        if not (correction.reason and correction.reference):
            raise NamesSnapshotInvalid(
                path, "a correction needs a reason and a reference", row=number
            )
        found.append(correction)
    return found
