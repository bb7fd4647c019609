"""The securities dictionary and the name matcher: folding, forms by market, boundaries, ticker
syntax, offsets, snapshots (shipped, operator's, malformed) and `digestbot names`."""

from __future__ import annotations

import datetime as dt
import io
import logging
import sqlite3
import tarfile
import zipfile
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from bot.cli import app
from digests.errors import NamesSnapshotInvalid
from digests.names import SHIPPED, Dictionary, build, forms, load, snapshot, sources
from digests.names.sources import Correction, SourceRow
from tests.conftest import SHANGHAI

LATER = dt.date(2099, 1, 1)  # newer than the shipped snapshot, so `load` prefers it


def _snapshot(directory: Path, *rows: SourceRow, day: dt.date = LATER) -> Path:
    """A real snapshot file made by the build code from hand-given source rows."""
    return snapshot.write(build.listings(rows, None), directory, day)


def _row(code: str, name: str, *, short: tuple[str, ...] = (), english: str = "") -> SourceRow:
    market = code.rpartition(".")[2]
    return SourceRow(code, market, name, "test", short, english or None)


@pytest.fixture(scope="module")
def shipped() -> Dictionary:
    """The dictionary shipped with the package."""
    return load(None)


@pytest.fixture
def names_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A `digestbot` runner in an empty folder (NAMES_DIR is its data/names) with no `.env`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIMEZONE", "Asia/Shanghai")
    monkeypatch.delenv("NAMES_DIR", raising=False)
    return CliRunner()


def test_shipped_snapshot_is_valid_and_covers_the_markets(shipped: Dictionary) -> None:
    """The shipped snapshot reads cleanly: A-shares, Hong Kong, the US, Korea, Taiwan, Japan."""
    assert shipped.path is not None and shipped.path.parent == SHIPPED
    assert [p.name for p in SHIPPED.glob("securities-*.csv")] == [shipped.path.name]
    markets = {listing.market for listing in shipped.listings}
    assert {"SH", "SZ", "BJ", "HK", "US", "KR", "TW", "JP"} <= markets
    assert shipped.lookup("摩尔线程") is not None and shipped.lookup("阅文集团") is not None


def test_full_width_and_spaced_names_fold(shipped: Dictionary) -> None:
    """`京东方Ａ` and `万 科A` are found as 京东方A and 万科A, reported as written."""
    text = "看好京东方Ａ，也看好万 科A。"
    found = [(m.text, m.security.code) for m in shipped.find(text)]
    assert found == [("京东方Ａ", "000725.SZ"), ("万 科A", "000002.SZ")]
    assert shipped.lookup("京东方Ａ") == shipped.lookup("京东方A")


def test_share_class_risk_mark_and_hk_suffix_forms(shipped: Dictionary) -> None:
    """A share class and an HK suffix are dropped as extra forms; ST only if 3+ characters stay."""
    assert forms.derive(code="000725.SZ", market="SZ", name="京东方A") == ("京东方A", "京东方")
    assert "红太阳" in forms.derive(code="000525.SZ", market="SZ", name="ST红太阳")
    assert forms.derive(code="000656.SZ", market="SZ", name="*ST金科") == ("*ST金科",)
    assert forms.derive(code="03690.HK", market="HK", name="美团-W") == ("美团-W", "美团")
    found = [(m.text, m.security.code) for m in shipped.find("京东方、美团、小米集团")]
    assert found == [("京东方", "000725.SZ"), ("美团", "03690.HK"), ("小米集团", "01810.HK")]


def test_us_forms_are_chinese_english_and_ticker() -> None:
    """A US listing counts by its Chinese name, English name without Inc./Holdings, ticker."""
    lite = forms.derive(code="LITE.US", market="US", name="Lumentum", english="Lumentum Holdings")
    assert lite == ("Lumentum", "LITE")
    mu = forms.derive(code="MU.US", market="US", name="美光科技", english="Micron Technology, Inc.")
    assert mu == ("美光科技", "MicronTechnology", "MU")


def test_sk_hynix_is_one_match_and_hynix_alone_also_matches(tmp_path: Path) -> None:
    """`SK海力士` is one mention, and a source's short form `海力士` is found on its own."""
    _snapshot(tmp_path, _row("000660.KR", "SK海力士", short=("海力士",)))
    names = load(tmp_path)
    found = [(m.text, m.security.name) for m in names.find("SK海力士与海力士；XSK海力士")]
    assert found == [("SK海力士", "SK海力士"), ("海力士", "SK海力士"), ("海力士", "SK海力士")]


def test_nvidia_chinese_english_and_ticker_are_one_security(shipped: Dictionary) -> None:
    """英伟达, NVIDIA, Nvidia and NVDA all resolve to NVDA.US, named 英伟达."""
    found = shipped.find("英伟达、NVIDIA、Nvidia和NVDA")
    assert [m.text for m in found] == ["英伟达", "NVIDIA", "Nvidia", "NVDA"]
    assert {m.security.code for m in found} == {"NVDA.US"}
    nvda = shipped.lookup("英伟达")
    assert nvda is not None and nvda.name == "英伟达"
    assert shipped.lookup("NVIDIA") == shipped.lookup("NVDA") == nvda


def test_apple_in_prose_is_a_common_form(shipped: Dictionary) -> None:
    """苹果 is found as AAPL.US but flagged common (jieba's fruit); 英伟达 is not flagged."""
    apple, nvidia = shipped.find("今天吃了一个苹果，英伟达涨了")
    assert apple.security.code == "AAPL.US" and apple.common and apple.security.common
    assert not nvidia.common


def test_sk_hynix_and_samsung_in_the_shipped_snapshot(shipped: Dictionary) -> None:
    """SK海力士 is one mention of 000660.KR, not SK plus 海力士; 三星 is 三星电子's short form."""
    found = [(m.text, m.security.code) for m in shipped.find("SK海力士和三星的HBM，海力士")]
    assert found == [("SK海力士", "000660.KR"), ("三星", "005930.KR"), ("海力士", "000660.KR")]


def test_tsmc_is_one_security_listed_in_new_york_and_taipei(shipped: Dictionary) -> None:
    """台积电, TSMC and TSM name one security: code TSM.US (US before TW), codes with 2330.TW."""
    tsmc = shipped.lookup("台积电")
    assert tsmc is not None and tsmc.code == "TSM.US" and tsmc.codes == ("TSM.US", "2330.TW")
    assert shipped.lookup("TSMC") == shipped.lookup("TSM") == tsmc
    assert {m.security for m in shipped.find("台积电(TSMC)，$TSM")} == {tsmc}


def test_a_ticker_that_is_the_listed_name_counts_in_prose(shipped: Dictionary) -> None:
    """AMD and IBM are the names posts write; ADP (named 自动数据处理) needs ticker syntax."""
    found = [(m.text, m.security.code) for m in shipped.find("AMD和IBM，ADP数据，$ADP，amd")]
    assert found == [("AMD", "AMD.US"), ("IBM", "IBM.US"), ("ADP", "ADP.US")]


def test_corrections_apply_in_the_shipped_snapshot(shipped: Dictionary) -> None:
    """Corrected: 09961.HK is 携程集团-S (阿里 is BABA.US), 恒生 alone names none, STMPA, 9984."""
    rows = {listing.code: listing for listing in shipped.listings}
    assert rows["09961.HK"].name == "携程集团-S" and "阿里" not in rows["09961.HK"].forms
    assert rows["09961.HK"].source == "matchina 0.2.4 (corrected)"
    assert shipped.lookup("阿里").code == "BABA.US"  # type: ignore[union-attr]
    assert shipped.lookup("携程集团").code == "09961.HK"  # type: ignore[union-attr]
    assert shipped.find("恒生科技指数、恒生指数") == []
    assert shipped.lookup("港交所").code == "00388.HK"  # type: ignore[union-attr]
    assert rows["STMPA.FR"].name == "意法半导体" and "STABILUS" not in rows["STMPA.FR"].forms
    assert shipped.lookup("SoftBank").code == "9984.JP"  # type: ignore[union-attr]


def test_a_curated_row_keeps_the_package_forms() -> None:
    """A curated row names NVDA.US 英伟达, keeps the package's Nvidia, does not add NVIDIA."""
    package = [SourceRow("NVDA.US", "US", "Nvidia", "pytickersymbols 1.17.10", english="Nvidia")]
    curated = [SourceRow("NVDA.US", "US", "英伟达", "curated", ("NVIDIA", "辉达"))]
    (row,) = build.listings(build.overlay(package, curated, build.Build()), None)
    assert row.name == "英伟达" and row.forms == ("英伟达", "Nvidia", "辉达", "NVDA")
    assert row.source == "pytickersymbols 1.17.10 + curated"


def test_curated_forms_go_through_the_lexicon() -> None:
    """A curated form that is an ordinary word is flagged common like any other form."""
    curated = [SourceRow("AAPL.US", "US", "苹果", "curated", ("苹果公司", "Apple"))]
    lexicon = forms.Lexicon({"苹果": (1334, "n"), "英伟达": (3, "n")}, threshold=30)
    (row,) = build.listings(build.overlay([], curated, build.Build()), lexicon)
    assert row.common and row.common_forms == ("苹果",)


def test_the_curated_files_are_well_formed() -> None:
    """foreign.csv and corrections.csv read cleanly; every curated row states its criterion."""
    rows = sources.curated_rows(build.CURATED / "foreign.csv")
    assert len(rows) > 100 and {"US", "KR", "TW", "JP"} <= {row.market for row in rows}
    text = (build.CURATED / "foreign.csv").read_text("utf-8")
    criteria = [line.rsplit(",", 1)[1] for line in text.splitlines()[1:]]
    assert all(set(c.split("|")) <= set("abcdef") for c in criteria)
    assert len(sources.corrections(build.CURATED / "corrections.csv")) >= 2


@pytest.mark.parametrize(
    ("line", "blame"),
    [
        ("2330.TW,US,台积电,TSMC,e", "row 2: '2330.TW' is not a code of market 'US'"),
        ("233.TW,TW,台积电,TSMC,e", "is not a code of market 'TW'"),
        ("2330.TW,TW,台积电,Taiwan Semiconductor,e", "row 2: a form has whitespace"),
    ],
)
def test_a_malformed_curated_row_is_named(tmp_path: Path, line: str, blame: str) -> None:
    """A wrong code for its market or a form with whitespace names the curated file and row."""
    bad = tmp_path / "foreign.csv"
    bad.write_text(f"code,market,name,forms,criterion\n{line}\n", encoding="utf-8")
    with pytest.raises(NamesSnapshotInvalid, match=blame):
        sources.curated_rows(bad)


def test_a_correction_the_source_no_longer_needs_is_noted() -> None:
    """A correction whose wrong value the source no longer holds is not applied, but noted."""
    fix = Correction("matchina", "09961.HK", "name", "阿里巴巴-SW", "携程集团-S", "why", "where")
    made = build.Build()
    fixed = build.correct([SourceRow("09961.HK", "HK", "携程集团-S", "matchina 0.3")], [fix], made)
    assert fixed[0].source == "matchina 0.3" and made.corrected == 0
    assert made.notes == ["correction not applied: matchina's 09961.HK name is '携程集团-S', "
                          "not '阿里巴巴-SW'"]  # fmt: skip


def test_a_latin_name_inside_a_longer_word_does_not_match(tmp_path: Path) -> None:
    """`Lite` is not found in `Satellite`; whole words and `Lumentum's` are."""
    _snapshot(tmp_path, _row("LITE.US", "Lumentum", english="Lumentum Holdings Inc"))
    names = load(tmp_path)
    assert names.find("Satellite links; satelLITE") == []
    assert [m.text for m in names.find("LITE and Lite, Lumentum's lasers")] == [
        "LITE",
        "Lite",
        "Lumentum",
    ]
    assert names.find("lite") == []  # a 4-letter ticker needs capitals


def test_short_tickers_count_only_in_ticker_syntax(shipped: Dictionary) -> None:
    """`MU` counts as `$MU`, `MU.US`, `(MU)`, `（MU）`; `MU`, `AI`, `IT`, `ON`, `ALL` do not."""
    text = "$MU, MU.US, (MU), （MU） and MU; AI, IT, ON, ALL, mu.us"
    found = [(m.text, m.security.code) for m in shipped.find(text)]
    assert found == [("MU", "MU.US")] * 4


def test_offsets_map_back_to_the_original_text(shipped: Dictionary) -> None:
    """Every mention's start and end index the caller's own text, spaces and ligatures too."""
    for text in ("ﬁ 京 东 方Ａ涨停，中际旭创\u3000跟涨", "　 中际旭创（300308）与天孚通信"):
        mentions = shipped.find(text)
        assert mentions, text
        for m in mentions:
            assert text[m.start : m.end] == m.text
    first = shipped.find("ﬁ 京 东 方Ａ涨停")[0]
    assert (first.start, first.end, first.text) == (2, 8, "京 东 方Ａ")


def test_common_names_are_found_and_flagged(shipped: Dictionary) -> None:
    """A name that is an ordinary word (机器人) is found and flagged; 中际旭创 is not flagged."""
    robot, zhongji = shipped.find("机器人板块和中际旭创")
    assert robot.security.code == "300024.SZ" and robot.common and robot.security.common
    assert not zhongji.common
    entries = {"机器人": (384, "n"), "腾讯": (98, "nz"), "稀词": (3, "n")}
    lexicon = forms.Lexicon(entries, threshold=30)
    assert [lexicon.ordinary(w) for w in ("机器人", "腾讯", "稀词")] == [True, False, False]


@pytest.mark.parametrize(
    ("content", "blame"),
    [
        ("code,market,name\n300308.SZ,SZ,中际旭创\n", "row 1: header lacks forms, common"),
        ("code,market,name,forms,common\n300308.SZ,SZ,中际旭创,中际旭创,0\nNVDA,US,x,x,0", "row 3"),
        ("code,market,name,forms,common\n", "no rows"),
        (
            "code,market,name,forms,common\n005930.KR,KR,三星电子,三星电子,0\n2330.KR,KR,x,x,0",
            "row 3",
        ),
    ],
)
def test_a_malformed_snapshot_is_named_and_the_shipped_one_is_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str, blame: str
) -> None:
    """A bad header, a bad row or no rows: the file and row are named, the shipped one is used."""
    bad = tmp_path / "securities-2099-01-01.csv"
    bad.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="digests.names.snapshot"):
        names = load(tmp_path)
    assert names.path is not None and names.path.parent == SHIPPED
    assert len(names.skipped) == 1 and str(bad) in names.skipped[0] and blame in names.skipped[0]
    assert str(bad) in caplog.text
    with pytest.raises(NamesSnapshotInvalid, match=blame):
        snapshot.read(bad)


def test_names_update_csv_writes_a_dated_snapshot_that_load_prefers(
    names_cli: CliRunner, tmp_path: Path
) -> None:
    """`names update --csv` writes today's snapshot over the one in force; `load` then uses it."""
    (tmp_path / "mine.csv").write_text("code,name\n688999,测试新股\n00772.HK,阅文集团\n", "utf-8")
    with time_machine.travel(dt.datetime(2100, 3, 1, 9, 0, tzinfo=SHANGHAI), tick=False):
        result = names_cli.invoke(app, ["names", "update", "--csv", "mine.csv"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "data" / "names" / "securities-2100-03-01.csv"
    assert result.output.startswith(f"wrote {Path('data/names/securities-2100-03-01.csv')}: ")
    names = load(tmp_path / "data" / "names")
    assert names.path == written
    assert names.lookup("测试新股") is not None and names.lookup("测试新股").code == "688999.SH"  # type: ignore[union-attr]
    assert names.lookup("中际旭创") is not None  # laid over the shipped rows, not instead of them


def test_names_find_prints_one_line_per_mention(names_cli: CliRunner) -> None:
    """`names find`: written → code name market, and `common` when the words are ordinary."""
    result = names_cli.invoke(app, ["names", "find", "京东方Ａ和机器人，$MU"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "京东方Ａ → 000725.SZ 京东方A SZ",
        "机器人 → 300024.SZ 机器人 SZ  common",
        "MU → MU.US 美光科技 US",
    ]


def test_names_commands_fail_with_a_sentence(names_cli: CliRunner, tmp_path: Path) -> None:
    """A missing or bad CSV is one sentence on stderr and exit 1, never a traceback."""
    result = names_cli.invoke(app, ["names", "update", "--csv", "missing.csv"])
    assert result.exit_code == 1 and "missing.csv: cannot be read" in result.output
    (tmp_path / "bad.csv").write_text("code,name\n1234567,坏代码\n", "utf-8")
    result = names_cli.invoke(app, ["names", "update", "--csv", "bad.csv"])
    assert result.exit_code == 1 and "bad.csv, row 2" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "data" / "names").exists()


def test_names_info_says_which_snapshot_is_in_force(names_cli: CliRunner) -> None:
    """`names info`: the shipped snapshot, its date, sources and listings per market."""
    result = names_cli.invoke(app, ["names", "info"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("(shipped)") and lines[1].startswith("date: ")
    assert "adata 2.9.5" in lines[2] and lines[3].startswith("listings: ")


def _source_archives(directory: Path) -> None:
    """Small source packages shaped like the real ones: adata, matchina, cnequity wheels and
    jieba's sdist, with a few rows each."""
    directory.mkdir()
    with zipfile.ZipFile(directory / "adata-2.9.5-py3-none-any.whl", "w") as wheel:
        wheel.writestr(
            "adata/stock/cache/code.csv",
            "stock_code,short_name,list_date2\n000725,京东方Ａ,2001-01-12\n"
            "000003,PT金田A,\n430047,诺思兰德,2020-11-24\n",
        )
    database = sqlite3.connect(":memory:")
    database.execute(
        "CREATE TABLE entities (id TEXT, name_cn TEXT, name_en TEXT, name_short_cn TEXT, "
        "stock_code TEXT, source TEXT, verified INTEGER)"
    )
    database.executemany(
        "INSERT INTO entities VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            ("A688795", "摩尔线程", None, None, "688795", "ashare", 0),
            ("HK03690", "美团-W", "Meituan", "美团", "03690", "hk_stock", 1),
            ("HK83690", "美团-WR", None, None, "83690", "hk_stock", 0),
            ("HK01234", "不同集团", None, "不同", "01234", "hk_stock", 0),
            (
                "HK09961",
                "阿里巴巴-SW",
                "Alibaba Group Holding Limited",
                "阿里",
                "09961",
                "hk_stock",
                1,
            ),
            ("USBABA", "阿里巴巴", "Alibaba Group Holding Limited", "阿里", None, "us_stock", 1),
        ],
    )
    with zipfile.ZipFile(directory / "matchina-0.2.4-py3-none-any.whl", "w") as wheel:
        wheel.writestr("matchina/data/entities.db", database.serialize())
    with zipfile.ZipFile(directory / "cnequity-0.20.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr(
            "cnequity/adapters/eastmoney/seeds/bse_code_mapping.json", '{"430047": "920047"}'
        )
    lexicon = "机器人 384 n\n美团 98 nz\n不同 5000 a\n".encode()
    with tarfile.open(directory / "jieba-0.42.1.tar.gz", "w:gz") as sdist:
        member = tarfile.TarInfo("jieba-0.42.1/jieba/dict.txt")
        member.size = len(lexicon)
        sdist.addfile(member, io.BytesIO(lexicon))


def test_names_update_builds_from_downloaded_source_packages(
    names_cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`names update --downloads DIR`: source archives filtered, corrected (09961.HK), curated."""
    _source_archives(tmp_path / "sources")
    curated = tmp_path / "curated"
    curated.mkdir()
    (curated / "corrections.csv").write_bytes((build.CURATED / "corrections.csv").read_bytes())
    (curated / "foreign.csv").write_text(
        "code,market,name,forms,criterion\n000660.KR,KR,SK海力士,海力士|SKhynix,d\n"
        "BABA.US,US,阿里巴巴,阿里巴巴集团|Alibaba,x\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(build, "CURATED", curated)
    with time_machine.travel(dt.datetime(2100, 3, 1, 9, 0, tzinfo=SHANGHAI), tick=False):
        result = names_cli.invoke(app, ["names", "update", "--downloads", "sources"])
    assert result.exit_code == 0, result.output
    assert "8 listings (SH 1, SZ 1, BJ 1, HK 3, US 1, KR 1)" in result.output
    assert "from: adata 2.9.5, matchina 0.2.4, cnequity 0.20.0, jieba 0.42.1" in result.output
    assert "curated foreign.csv (2 rows), corrections.csv (2 of 10 applied)" in result.output
    assert "note: correction not applied: matchina has no row 00011.HK" in result.output
    names = load(tmp_path / "data" / "names")
    codes = {listing.code for listing in names.listings}
    assert codes == {"000725.SZ", "688795.SH", "920047.BJ", "03690.HK", "01234.HK", "09961.HK",
                     "BABA.US", "000660.KR"}  # fmt: skip
    assert names.lookup("美团").code == "03690.HK"  # type: ignore[union-attr]
    assert names.lookup("阿里").code == "BABA.US"  # type: ignore[union-attr]
    assert names.lookup("携程集团").code == "09961.HK"  # type: ignore[union-attr]
    assert names.lookup("不同") is None
    baba = next(row for row in names.listings if row.code == "BABA.US")
    assert baba.forms == ("阿里巴巴", "阿里", "阿里巴巴集团", "Alibaba", "AlibabaGroup", "BABA")
    assert baba.source == "matchina 0.2.4 + curated"


def test_names_update_without_sources_says_what_to_do(names_cli: CliRunner, tmp_path: Path) -> None:
    """No source package and no CSV: one sentence naming the packages, exit 1."""
    (tmp_path / "empty").mkdir()
    result = names_cli.invoke(app, ["names", "update", "--downloads", "empty"])
    assert result.exit_code == 1 and "no source package found" in result.output
