"""Dated snapshot files of the securities dictionary: their format, validation, writing, and
`load`, which picks the newest good one.

A snapshot is `securities-YYYY-MM-DD.csv` (UTF-8, a header row) with the columns
`code,market,name,forms,common,common_forms,source`; `forms` and `common_forms` are
`|`-separated, `common` is 0 or 1. The package ships one (`snapshot/`, see its SOURCE.md); the
operator's NAMES_DIR may hold newer ones, written by `digestbot names update`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from digests.errors import NamesSnapshotInvalid
from digests.names.fold import written
from digests.names.matcher import Dictionary, Listing

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).parent / "snapshot"
COLUMNS = ("code", "market", "name", "forms", "common", "common_forms", "source")
REQUIRED = ("code", "market", "name", "forms", "common")
FILE_NAME = re.compile(r"^securities-(\d{4}-\d{2}-\d{2})\.csv$")
_SIX_DIGITS = r"\d{6}"
_TICKER = r"[A-Z0-9][A-Z0-9.\-]*"
# Korea (KRX, `005930`), Taiwan (TWSE/TPEx, `2330`, ETFs `00878`), Japan (TSE, `8035`, and the
# letter codes issued since 2024, `285A`); other markets take tickers (`ASML.NL`, `NOKIA.FI`)
CODE_PATTERNS = {
    "SH": _SIX_DIGITS, "SZ": _SIX_DIGITS, "BJ": _SIX_DIGITS, "HK": r"\d{5}",
    "KR": _SIX_DIGITS, "TW": r"\d{4,6}[A-Z]?", "JP": r"\d[0-9A-Z]\d[0-9A-Z]",
}  # fmt: skip
# A-share boards, Hong Kong, the US and the other markets the sources list (ISO country codes)
MARKETS = frozenset(
    {"SH", "SZ", "BJ", "HK", "US", "KR", "TW", "JP", "SG", "GB", "DE", "FR", "NL", "ES"}
    | {"IT", "CH", "SE", "FI", "BE", "DK", "NO", "AT", "IE", "PT"}
)


def snapshot_date(path: Path) -> dt.date | None:
    """The date in a snapshot's file name, or None when it is not one."""
    named = FILE_NAME.match(path.name)
    if not named:
        return None
    try:
        return dt.date.fromisoformat(named.group(1))
    except ValueError:
        return None


def _check(row: dict[str, str | None], number: int, path: Path) -> Listing:
    def bad(reason: str) -> NamesSnapshotInvalid:
        return NamesSnapshotInvalid(path, reason, row=number)

    values = {k: (v or "").strip() for k, v in row.items() if k is not None}
    if None in row:
        raise bad("more fields than the header has")
    code, market, name = values["code"], values["market"], values["name"]
    if market not in MARKETS:
        raise bad(f"unknown market {market!r}")
    pattern = CODE_PATTERNS.get(market, _TICKER)
    if not re.fullmatch(rf"{pattern}\.{market}", code):
        raise bad(f"code {code!r} is not a {market} code (like {_example(market)})")
    if not name:
        raise bad("no name")
    forms = tuple(f for f in values["forms"].split("|") if f)
    if written(name) not in forms:
        raise bad(f"forms {values['forms']!r} do not include the name {name!r}")
    if any(written(f) != f for f in forms):
        raise bad("a form has whitespace or is not NFKC")
    if values["common"] not in ("0", "1"):
        raise bad(f"common is {values['common']!r}, not 0 or 1")
    common_forms = tuple(f for f in values.get("common_forms", "").split("|") if f)
    if not set(common_forms) <= set(forms):
        raise bad("common_forms has a form the row does not have")
    return Listing(
        code, market, name, forms, values["common"] == "1", common_forms, values.get("source", "")
    )


def _example(market: str) -> str:
    examples = {"SH": "600519.SH", "SZ": "300308.SZ", "BJ": "920047.BJ", "HK": "00772.HK"}
    examples |= {"KR": "005930.KR", "TW": "2330.TW", "JP": "8035.JP"}
    return examples.get(market, f"NVDA.{market}")


def read(path: Path) -> list[Listing]:
    """The rows of one snapshot, checked; NamesSnapshotInvalid names the file and the row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise NamesSnapshotInvalid(path, f"cannot be read ({exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise NamesSnapshotInvalid(path, f"header lacks {', '.join(missing)}", row=1)
        listings: list[Listing] = []
        seen: dict[str, int] = {}
        for row in reader:
            listing = _check(row, reader.line_num, path)
            if listing.code in seen:
                raise NamesSnapshotInvalid(
                    path,
                    f"{listing.code} is already on row {seen[listing.code]}",
                    row=reader.line_num,
                )
            seen[listing.code] = reader.line_num
            listings.append(listing)
    except csv.Error as exc:
        raise NamesSnapshotInvalid(path, f"not CSV ({exc})", row=reader.line_num) from None
    if not listings:
        raise NamesSnapshotInvalid(path, "no rows")
    return listings


def write(listings: Iterable[Listing], directory: Path, day: dt.date) -> Path:
    """Write `securities-DAY.csv` into `directory`, checked by `read` before it replaces any file
    of that name (a bad build never becomes the snapshot in force)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"securities-{day.isoformat()}.csv"
    handle, temporary = tempfile.mkstemp(prefix=".securities-", suffix=".csv", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            sheet = csv.writer(out, lineterminator="\n")
            sheet.writerow(COLUMNS)
            for row in sorted(listings, key=lambda r: (r.market, r.code)):
                sheet.writerow(
                    [row.code, row.market, row.name, "|".join(row.forms), int(row.common),
                     "|".join(row.common_forms), row.source]
                )  # fmt: skip
        read(Path(temporary))
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def candidates(directories: Sequence[Path]) -> list[Path]:
    """Snapshot files, newest first; on one date the earlier directory's (the operator's) first."""
    found: list[tuple[dt.date, int, Path]] = []
    for rank, directory in enumerate(directories):
        for path in sorted(directory.glob("securities-*.csv")) if directory.is_dir() else ():
            day = snapshot_date(path)
            if day is None:
                log.warning("names: %s is not named securities-YYYY-MM-DD.csv; ignored", path)
            else:
                found.append((day, -rank, path))
    found.sort(reverse=True)
    return [path for _, _, path in found]


@lru_cache(maxsize=8)
def _dictionary(path: Path, _mtime_ns: int, _size: int) -> Dictionary | NamesSnapshotInvalid:
    # keyed by the file's identity so the automaton is built once per snapshot per process
    try:
        return Dictionary.from_listings(read(path), path=path, date=snapshot_date(path))
    except NamesSnapshotInvalid as exc:
        return exc


def load(directory: Path | None = None) -> Dictionary:
    """The dictionary of the newest good snapshot in `directory` (NAMES_DIR) or shipped with the
    package; a bad one is logged, named in `Dictionary.skipped`, and passed over."""
    directories = [directory, SHIPPED] if directory is not None else [SHIPPED]
    skipped: list[str] = []
    for path in candidates(directories):
        stat = path.stat()
        result = _dictionary(path, stat.st_mtime_ns, stat.st_size)
        if isinstance(result, NamesSnapshotInvalid):
            log.warning("names: snapshot passed over: %s", result)
            skipped.append(str(result))
            continue
        result.skipped = tuple(skipped)  # why newer ones were passed over, for `names info`
        return result
    raise NamesSnapshotInvalid(
        SHIPPED, "no usable securities snapshot" + (f" ({'; '.join(skipped)})" if skipped else "")
    )
