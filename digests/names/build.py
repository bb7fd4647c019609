"""Building a snapshot: the source packages (or an operator's CSV) merged into listings, with
forms by market rules and the `common` flag from the lexicon. `digestbot names update` and the
shipped snapshot (SOURCE.md) are made by the same code.

Merging: rows are keyed by code and a newer source's name replaces an older one's (adata's
A-shares date from 2023-10, matchina's from 2026-03), except where the newer name already
belongs to another listing of the same market: a name names one listing at a time, so that is
a source error (matchina gives 中联重科 to 002523) and the older name stays.

Two hand-maintained files in `curated/` (its README.md says how they are kept) take part:
`corrections.csv` fixes known errors of a package's rows before they are merged (matchina names
09961.HK, Trip.com, 阿里巴巴-SW), and `foreign.csv`, the Chinese and English names of foreign
companies that no usable package ships, is laid over the merged rows last: a curated row gives
the listed name and adds its forms to those the packages give (NVDA.US: 英伟达 beside Nvidia and
NVDA), and its forms meet the same lexicon for `common` as every other form.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from digests.errors import NamesSnapshotInvalid, NamesSourceMissing
from digests.names import forms as rules
from digests.names import sources
from digests.names.fold import fold, listed
from digests.names.matcher import Listing
from digests.names.snapshot import CODE_PATTERNS, MARKETS

# jieba's frequencies are counts in its training corpus. From 30 up, the listed names that are
# ordinary words are words in a post's own sense (黑芝麻, 百合花, 粉笔, 驱动力, 机器人, 太阳能);
# at 100 the first four are lost, below 30 come mostly proper names jieba mis-tags (首都在线,
# 平高电气, 外高桥). SOURCE.md has the table and what this flags.
COMMON_THRESHOLD = 30
PACKAGES = ("adata", "matchina", "cnequity", "pytickersymbols", "jieba")
CURATED = Path(__file__).parent / "curated"  # foreign.csv, corrections.csv, README.md


@dataclass
class Build:
    """What a build made and what it noticed, for the command's report and SOURCE.md."""

    listings: list[Listing] = field(default_factory=list)
    used: list[str] = field(default_factory=list)  # `adata 2.9.5`…
    notes: list[str] = field(default_factory=list)
    corrected: int = 0  # corrections applied

    def counts(self) -> Counter[str]:
        """Listings per market."""
        return Counter(row.market for row in self.listings)


def merge(
    layers: Iterable[Iterable[sources.SourceRow]], build: Build
) -> dict[str, sources.SourceRow]:
    """Rows by code, later layers winning, except a name another code of the market holds; a
    newer name that is only one of the older name's forms (万科 for 万科A, 红太阳 for ST红太阳)
    keeps the older name as listed."""
    merged: dict[str, sources.SourceRow] = {}
    holder: dict[tuple[str, str], str] = {}
    for layer in layers:
        for row in layer:
            taken = holder.get((row.market, fold(row.name)))
            if taken is not None and taken != row.code and taken in merged:
                build.notes.append(
                    f"{row.source}: {row.code} {row.name} kept out, the name is {taken}'s"
                )
                continue
            old = merged.get(row.code)
            if old is not None:
                holder.pop((old.market, fold(old.name)), None)
                derived = rules.derive(code=old.code, market=old.market, name=old.name)
                if fold(row.name) in {fold(form) for form in derived}:
                    row = replace(row, name=old.name, source=old.source)
                row = replace(
                    row,
                    short=tuple(dict.fromkeys(old.short + row.short)),
                    english=row.english or old.english,
                )
            merged[row.code] = row
            holder[(row.market, fold(row.name))] = row.code
    return merged


def correct(
    rows: Iterable[sources.SourceRow], fixes: Sequence[sources.Correction], build: Build
) -> list[sources.SourceRow]:
    """One package's rows with the corrections for that package applied; a correction whose row
    is missing, or whose field no longer holds the wrong value (a newer version fixed it), is
    left unapplied and noted, to be reviewed."""
    made = list(rows)
    at = {row.code: i for i, row in enumerate(made)}
    for fix in fixes:
        if fix.code not in at:
            build.notes.append(f"correction not applied: {fix.source} has no row {fix.code}")
            continue
        row = made[at[fix.code]]
        if fix.value(row) != fix.was:
            build.notes.append(
                f"correction not applied: {fix.source}'s {fix.code} {fix.field} is "
                f"{fix.value(row)!r}, not {fix.was!r}"
            )
            continue
        made[at[fix.code]] = replace(fix.apply(row), source=_corrected(row.source))
        build.corrected += 1
    return made


def _corrected(source: str) -> str:
    return source if source.endswith(" (corrected)") else f"{source} (corrected)"


def overlay(
    rows: Iterable[sources.SourceRow], curated: Iterable[sources.SourceRow], build: Build
) -> list[sources.SourceRow]:
    """The curated rows laid over the packages' rows: a curated row for a code the packages
    have gives its name and adds its forms, keeping the package's name, short names and English
    name as forms (a form already there, folded, is not added twice); a new code is added."""
    merged = {row.code: row for row in rows}
    names = {(row.market, fold(row.name)): row.code for row in merged.values()}
    for row in curated:
        holder = names.get((row.market, fold(row.name)))
        if holder is not None and holder != row.code:
            build.notes.append(f"curated: {row.code} {row.name}: {holder} has that name too")
        names[(row.market, fold(row.name))] = row.code
        old = merged.get(row.code)
        if old is None:
            merged[row.code] = row
            continue
        kept = [old.name, *old.short] if fold(old.name) != fold(row.name) else list(old.short)
        have = {fold(form) for form in [row.name, *kept]}
        if old.english:
            have.add(fold(rules.english_short(old.english)))
        added = [form for form in row.short if fold(form) not in have]
        merged[row.code] = replace(
            old,
            name=row.name,
            short=tuple(dict.fromkeys(kept + added)),
            source=f"{old.source} + {row.source}",
        )
    return list(merged.values())


def listings(rows: Iterable[sources.SourceRow], lexicon: rules.Lexicon | None) -> list[Listing]:
    """Source rows made listings: forms by the market rules, `common` by the lexicon."""
    made = []
    for row in rows:
        forms = rules.derive(
            code=row.code, market=row.market, name=row.name, short=row.short, english=row.english
        )
        common = tuple(f for f in forms if lexicon is not None and lexicon.ordinary(f))
        made.append(
            Listing(row.code, row.market, row.name, forms, forms[0] in common, common, row.source)
        )
    return made


def from_packages(*, downloads: Path | None = None, curated: Path | None = None) -> Build:
    """A snapshot from the source packages found (downloaded into `downloads`, or installed),
    corrected and overlaid by the curated files in `curated` (the package's `curated/`)."""
    curated = CURATED if curated is None else curated
    found = {name: sources.find_package(name, downloads=downloads) for name in PACKAGES}
    build = Build(used=[p.label for p in found.values() if p is not None])
    adata, matchina, cnequity = found["adata"], found["matchina"], found["cnequity"]
    tickers, jieba = found["pytickersymbols"], found["jieba"]
    if not (adata or matchina or tickers):
        raise NamesSourceMissing(
            "no source package found: `pip download --no-deps adata matchina pytickersymbols "
            "cnequity jieba -d DIR` and pass --downloads DIR, or pass --csv FILE"
        )
    fixes = sources.corrections(curated / "corrections.csv")
    foreign = sources.curated_rows(curated / "foreign.csv")
    layers: list[list[sources.SourceRow]] = []
    for package, read in (
        (tickers, sources.pytickersymbols_rows),
        (adata, sources.adata_rows),
        (matchina, sources.matchina_rows),
    ):
        if package is not None:
            mine = [fix for fix in fixes if fix.source == package.name]
            layers.append(correct(read(package), mine, build))
    rows = list(merge(layers, build).values())
    if cnequity:
        moved = sources.cnequity_bj_codes(cnequity)
        rows = [_moved(row, moved) for row in rows]
    rows = overlay(rows, foreign, build)
    build.used.append(f"curated foreign.csv ({len(foreign)} rows)")
    build.used.append(f"corrections.csv ({build.corrected} of {len(fixes)} applied)")
    lexicon = _lexicon(jieba, build)
    build.listings = listings(rows, lexicon)
    return build


def _moved(row: sources.SourceRow, moved: dict[str, str]) -> sources.SourceRow:
    code = row.code.partition(".")[0]
    return replace(row, code=f"{moved[code]}.BJ") if row.market == "BJ" and code in moved else row


def _lexicon(jieba: sources.Package | None, build: Build) -> rules.Lexicon | None:
    if jieba is None:
        build.notes.append("jieba not found: no name is flagged common")
        return None
    return rules.Lexicon.parse(sources.jieba_lexicon(jieba), threshold=COMMON_THRESHOLD)


def infer_market(code: str) -> str | None:
    """The market of a bare code: six digits an A-share, five Hong Kong, letters a US ticker."""
    if re.fullmatch(r"\d{6}", code):
        return sources.a_share_market(code)
    if re.fullmatch(r"\d{5}", code):
        return "HK"
    return "US" if re.fullmatch(r"[A-Z][A-Z0-9.\-]*", code) else None


def from_csv(path: Path, *, base: Sequence[Listing], jieba: sources.Package | None) -> Build:
    """The operator's CSV (`code,name[,market]`) laid over `base` (empty to use it alone)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise NamesSnapshotInvalid(path, f"cannot be read ({exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not {"code", "name"} <= set(reader.fieldnames or []):
        raise NamesSnapshotInvalid(path, "the header needs code and name (market optional)", row=1)
    label = f"csv {path.name}"
    rows: list[sources.SourceRow] = []
    for row in reader:
        number = reader.line_num
        raw = (row.get("code") or "").strip().upper()
        code, suffix = raw, ""
        split = re.fullmatch(r"(.+)\.([A-Z]{2})", raw)
        if split and split.group(2) in MARKETS:
            code, suffix = split.groups()
        market = (row.get("market") or "").strip().upper() or suffix or infer_market(code)
        name = listed(row.get("name") or "")
        if not code or market not in MARKETS:
            raise NamesSnapshotInvalid(path, f"no market for code {raw!r}", row=number)
        if not re.fullmatch(CODE_PATTERNS.get(market, r"[A-Z0-9][A-Z0-9.\-]*"), code):
            raise NamesSnapshotInvalid(path, f"{raw!r} is not a {market} code", row=number)
        if not name:
            raise NamesSnapshotInvalid(path, "no name", row=number)
        english = name if market not in rules.A_SHARE | {"HK"} and name.isascii() else None
        rows.append(sources.SourceRow(f"{code}.{market}", market, name, label, english=english))
    if not rows:
        raise NamesSnapshotInvalid(path, "no rows")
    build = Build(used=[label] + ([jieba.label] if jieba else []))
    # the operator's word is final: their rows replace the base's, codes and names alike
    fresh = {row.code: row for row in rows}
    build.listings = [b for b in base if b.code not in fresh]
    build.listings += listings(fresh.values(), _lexicon(jieba, build))
    return build
