"""QR codes for citizens' reports: a signed link per grid, a PNG card per cell and A4 sheets per community."""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import Connection, text
from tqdm import tqdm

SIG_BYTES = 16  # 128 bits of HMAC-SHA256: unforgeable, and 22 characters keep the QR code small
FONT_PATH = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
FONT_INDEX = 2  # Noto Sans CJK SC in Debian's collection
BORDER = 4  # the quiet zone the QR standard asks for, in modules
CARD_WIDTH = 480
SHEET_DPI = 150
SHEET_SIZE = (1240, 1754)  # A4 at 150 dpi
SHEET_COLUMNS, SHEET_ROWS = 2, 3
HEADLINE = "扫码反映身边事"


def sign(secret: str, grid_code: str) -> str:
    """The `sig` of a grid's report link: only whoever holds the secret can print a code for a grid."""
    mac = hmac.new(secret.encode(), b"report:" + grid_code.encode(), hashlib.sha256).digest()[:SIG_BYTES]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def verify(secret: str, grid_code: str, sig: str | None) -> bool:
    """Constant-time check, so timing does not reveal how much of a guessed signature was right."""
    if not sig:
        return False
    return hmac.compare_digest(sign(secret, grid_code).encode(), sig.encode("utf-8", "replace"))


def report_url(base_url: str, secret: str, grid_code: str) -> str:
    return f"{base_url.rstrip('/')}/report/{grid_code}?sig={sign(secret, grid_code)}"


def qr_matrix(url: str) -> list[list[bool]]:
    """The code's modules, quiet zone included; medium error correction survives a scuffed sticker."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=BORDER)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


def qr_box(modules: int, width: int = CARD_WIDTH) -> tuple[int, int, int]:
    """Where a card draws its code: left, top and pixels per module (whole pixels keep modules square)."""
    box = width // modules
    return (width - modules * box) // 2, _size(width, 0.075) + _size(width, 0.04), box


@dataclass(frozen=True)
class PrintableCell:
    code: str
    name: str
    community_code: str
    community_name: str


def unknown_codes(conn: Connection, codes: list[str]) -> list[str]:
    found = set(conn.execute(text("SELECT code FROM grid WHERE valid_to IS NULL AND code = ANY(:codes)"),
                             {"codes": list(codes)}).scalars())
    return [c for c in codes if c not in found]


def printable_cells(conn: Connection, codes: list[str] | None = None) -> list[PrintableCell]:
    """Current cells (dedicated grids too) under the given grids, or all, with the community they belong to."""
    rows = conn.execute(text("""
        SELECT c.code, c.name, p.code, p.name
        FROM grid c JOIN grid p ON p.valid_to IS NULL AND p.level = 'community' AND p.path @> c.path
        WHERE c.valid_to IS NULL AND c.level = 'cell'
          AND (CAST(:codes AS ltree[]) IS NULL OR c.path <@ CAST(:codes AS ltree[]))
        ORDER BY c.code"""), {"codes": codes})
    return [PrintableCell(*row) for row in rows]


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Noto CJK when installed; Pillow's own font otherwise (Chinese then shows as boxes, the code stays legible)."""
    try:
        return ImageFont.truetype(FONT_PATH, size, index=FONT_INDEX)
    except OSError:
        return ImageFont.load_default(size)


def card(url: str, name: str, code: str, width: int = CARD_WIDTH) -> Image.Image:
    """One grid's code to print: a headline, the QR code, the grid's name and code under it."""
    matrix = qr_matrix(url)
    left, top, box = qr_box(len(matrix), width)
    side = len(matrix) * box
    image = Image.new("L", (width, top + side + _size(width, 0.2)), 255)
    qr = Image.new("L", (len(matrix), len(matrix)), 255)
    qr.putdata([0 if dark else 255 for row in matrix for dark in row])
    image.paste(qr.resize((side, side), Image.Resampling.NEAREST), (left, top))
    draw = ImageDraw.Draw(image)
    _centred(draw, HEADLINE, _size(width, 0.02), _size(width, 0.058), width)
    _centred(draw, name, top + side + _size(width, 0.01), _size(width, 0.07), width)
    _centred(draw, code, top + side + _size(width, 0.11), _size(width, 0.045), width)
    return image


def sheet(community_name: str, community_code: str, cells: list[tuple[str, str, str]]) -> list[Image.Image]:
    """A4 pages of a community's (url, name, code) cards, six to a page, with cut lines between them."""
    width, height = SHEET_SIZE
    header, per_page = 150, SHEET_COLUMNS * SHEET_ROWS
    cell_w, cell_h = width // SHEET_COLUMNS, (height - header) // SHEET_ROWS
    pages = []
    for start in range(0, max(len(cells), 1), per_page):
        page = Image.new("L", SHEET_SIZE, 255)
        draw = ImageDraw.Draw(page)
        total = -(-len(cells) // per_page)
        suffix = f"（{start // per_page + 1}/{total}）" if total > 1 else ""
        _centred(draw, f"{community_name} · 网格二维码{suffix}", 40, 44, width)
        _centred(draw, f"{community_code}　请沿虚线剪下，张贴在网格内显眼处", 95, 22, width)
        for i, (url, name, code) in enumerate(cells[start:start + per_page]):
            x, y = (i % SHEET_COLUMNS) * cell_w, header + (i // SHEET_COLUMNS) * cell_h
            image = card(url, name, code, width=cell_w - 80)
            image.thumbnail((cell_w - 40, cell_h - 20))  # only shrinks, and only a code too long to fit
            page.paste(image, (x + (cell_w - image.width) // 2, y + (cell_h - image.height) // 2))
        for col in range(1, SHEET_COLUMNS):
            _dashed(draw, [(col * cell_w, header), (col * cell_w, height)])
        for row in range(SHEET_ROWS + 1):
            _dashed(draw, [(0, header + row * cell_h), (width, header + row * cell_h)])
        pages.append(page)
    return pages


def save_pdf(pages: list[Image.Image], path: Path) -> None:
    pages[0].save(path, "PDF", save_all=True, append_images=pages[1:], resolution=SHEET_DPI)


def write_all(cells: list[PrintableCell], secret: str, base_url: str, out: Path, progress: bool = False) -> int:
    """OUT/<cell>.png for each cell and OUT/<community>.pdf for each community; returns the number of sheets."""
    out.mkdir(parents=True, exist_ok=True)
    sheets: dict[tuple[str, str], list] = defaultdict(list)
    for cell in tqdm(cells, desc="QR codes", unit="grid", disable=not progress):
        url = report_url(base_url, secret, cell.code)
        card(url, cell.name, cell.code).save(out / f"{cell.code}.png")
        sheets[cell.community_code, cell.community_name].append((url, cell.name, cell.code))
    for (code, name), cards in sheets.items():
        save_pdf(sheet(name, code, cards), out / f"{code}.pdf")
    return len(sheets)


def _size(width: int, share: float) -> int:
    return max(1, round(width * share))


def _centred(draw: ImageDraw.ImageDraw, words: str, y: int, size: int, width: int) -> None:
    """Centre a line, shrinking the font until a long grid name fits the width."""
    while size > 8 and draw.textlength(words, font=font(size)) > width * 0.94:
        size -= 1
    draw.text(((width - draw.textlength(words, font=font(size))) / 2, y), words, font=font(size), fill=0)


def _dashed(draw: ImageDraw.ImageDraw, line: list[tuple[int, int]], dash: int = 12) -> None:
    (x0, y0), (x1, y1) = line
    length = max(abs(x1 - x0), abs(y1 - y0))
    for s in range(0, length, dash * 2):
        e = min(s + dash, length)
        draw.line([(x0 + (x1 - x0) * s // length, y0 + (y1 - y0) * s // length),
                   (x0 + (x1 - x0) * e // length, y0 + (y1 - y0) * e // length)], fill=160, width=2)
