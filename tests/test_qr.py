"""QR links are signed and unforgeable; each printed card carries exactly the code of its grid's link; `minqing qr`
writes a PNG per cell and an A4 PDF per community."""
from __future__ import annotations

import io
import math
import re
from collections import Counter

import pytest
from click.testing import CliRunner
from PIL import Image

from data import qrcodes
from mapserver.citizen import qr_command

SECRET = "test-secret"
BASE = "https://minqing.example.gov.cn"


def read_modules(image: Image.Image, size: int) -> list[list[bool]]:
    """The `size`×`size` modules a card shows, read back from the pixel at each module's centre."""
    left, top, box = qrcodes.qr_box(size, image.width)
    gray = image.convert("L")
    return [[gray.getpixel((left + x * box + box // 2, top + y * box + box // 2)) < 128 for x in range(size)]
            for y in range(size)]


def shows(image: Image.Image, url: str) -> bool:
    matrix = qrcodes.qr_matrix(url)
    return read_modules(image, len(matrix)) == matrix


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


def test_a_signature_round_trips_and_is_short_and_url_safe():
    sig = qrcodes.sign(SECRET, "990101.001.003.001")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", sig)
    assert qrcodes.verify(SECRET, "990101.001.003.001", sig)
    assert qrcodes.sign(SECRET, "990101.001.003.001") == sig  # deterministic: reprinting gives the same code


def test_forged_or_missing_signatures_fail():
    genuine = qrcodes.sign(SECRET, "990101.001.003.001")
    assert not qrcodes.verify(SECRET, "990101.001.003.002", genuine)  # another grid's code, this one's sig
    assert not qrcodes.verify("another-secret", "990101.001.003.001", genuine)
    for forged in (None, "", genuine[:-1], genuine + "A", "A" * 22, "签名" * 11):
        assert not qrcodes.verify(SECRET, "990101.001.003.001", forged)


def test_a_card_is_a_png_showing_exactly_the_links_qr_code():
    url = qrcodes.report_url(BASE, SECRET, "990101.001.003.001")
    assert url == f"{BASE}/report/990101.001.003.001?sig={qrcodes.sign(SECRET, '990101.001.003.001')}"
    buffer = io.BytesIO()
    qrcodes.card(url, "枣林社区第一网格", "990101.001.003.001").save(buffer, "PNG")
    image = Image.open(io.BytesIO(buffer.getvalue()))
    assert image.format == "PNG" and image.width == qrcodes.CARD_WIDTH
    assert shows(image, url)
    assert not shows(image, url.replace("001?", "002?"))


def test_without_the_cjk_font_the_card_still_prints(monkeypatch):
    monkeypatch.setattr(qrcodes, "FONT_PATH", "/nonexistent/font.ttc")
    qrcodes.font.cache_clear()
    try:
        url = qrcodes.report_url(BASE, SECRET, "990101.001.003.001")
        image = qrcodes.card(url, "枣林社区第一网格", "990101.001.003.001")
        assert shows(image, url)
    finally:
        qrcodes.font.cache_clear()


def test_a_sheet_has_six_codes_to_an_a4_page():
    cards = [(qrcodes.report_url(BASE, SECRET, f"990101.001.003.{i:03}"), f"第{i}网格", f"990101.001.003.{i:03}")
             for i in range(1, 8)]
    pages = qrcodes.sheet("枣林社区", "990101.001.003", cards)
    assert len(pages) == 2 and all(p.size == qrcodes.SHEET_SIZE for p in pages)


@pytest.fixture(scope="module")
def cells(city_engine):
    with city_engine.connect() as conn:
        return qrcodes.printable_cells(conn)


@pytest.fixture
def run(city_engine):
    env = {"DATABASE_URL": city_engine.url.render_as_string(hide_password=False), "MINQING_QR_SECRET": SECRET,
           "MINQING_PUBLIC_URL": "http://127.0.0.1:5000"}
    return lambda *args: CliRunner().invoke(qr_command, list(args), env=env)


def test_one_grid_gives_its_png_and_its_communitys_sheet(run, tmp_path, cells):
    cell = cells[0]
    result = run("--grid", cell.code, "--out", str(tmp_path), "--base-url", BASE + "/")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{cell.code}.png", f"{cell.community_code}.pdf"])
    image = Image.open(tmp_path / f"{cell.code}.png")
    assert shows(image, qrcodes.report_url(BASE, SECRET, cell.code))
    assert pdf_pages((tmp_path / f"{cell.community_code}.pdf").read_bytes()) == 1


def test_all_gives_every_cell_and_a_sheet_per_community(run, tmp_path, cells):
    result = run("--all", "--out", str(tmp_path / "qr"))
    assert result.exit_code == 0, result.output
    per_community = Counter(c.community_code for c in cells)
    assert {p.name for p in (tmp_path / "qr").glob("*.png")} == {f"{c.code}.png" for c in cells}
    for community, count in per_community.items():
        pages = pdf_pages((tmp_path / "qr" / f"{community}.pdf").read_bytes())
        assert pages == math.ceil(count / (qrcodes.SHEET_COLUMNS * qrcodes.SHEET_ROWS))
    assert any(n > qrcodes.SHEET_COLUMNS * qrcodes.SHEET_ROWS for n in per_community.values())  # a 2-page sheet
    assert f"{len(cells)} QR codes and {len(per_community)} community sheets" in result.output
    assert "127.0.0.1:5000" in result.output  # MINQING_PUBLIC_URL by default
    assert "QR codes: 100%" in result.output and f"{len(cells)}/{len(cells)}" in result.output  # the bar


def test_a_community_code_prints_its_cells(run, tmp_path, cells):
    community = cells[0].community_code
    assert run("--grid", community, "--out", str(tmp_path)).exit_code == 0
    assert {p.stem for p in tmp_path.glob("*.png")} == {c.code for c in cells if c.community_code == community}


def test_unknown_grids_and_missing_choices_are_clear_errors(run, tmp_path):
    result = run("--grid", "990101.999", "--out", str(tmp_path))
    assert result.exit_code == 1 and "990101.999" in result.output
    assert not any(tmp_path.iterdir())
    assert run("--out", str(tmp_path)).exit_code == 2
    assert run("--all", "--base-url", "ftp://x").exit_code == 2
    help_text = run("--help").output
    assert "--grid" in help_text and "--all" in help_text and "minqing qr --all" in help_text


def test_the_demo_secret_is_called_out(city_engine, tmp_path, cells):
    env = {"DATABASE_URL": city_engine.url.render_as_string(hide_password=False), "MINQING_QR_SECRET": ""}
    result = CliRunner().invoke(qr_command, ["--grid", cells[0].code, "--out", str(tmp_path)], env=env)
    assert result.exit_code == 0 and "MINQING_QR_SECRET is not set" in result.output
