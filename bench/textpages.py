"""A deterministic set of document pages that are *not* from the Hradis dataset, for text super-resolution.

    .venv/bin/python bench/textpages.py --out /tmp/textpages                 # 24 pages, seed 0
    .venv/bin/python bench/textpages.py --out /tmp/textpages --count 48 --seed 7

Why: our text models are trained and measured on Hradis, which is one dataset with one look (its
fonts, its layouts, its scanner). Documents are half of what the product is for, so a text model that
only knows that look is not good enough. These pages ask whether the text models generalise: other
fonts, sizes, weights and layouts, born-digital as well as scanned.

What it makes: ``--count`` high-resolution reference pages (PNG, even width and height between 512 and
768 px; the benchmark downsizes them by 2 itself) and ``MANIFEST.json`` listing every file with its
kind and the parameters it was made with. Pages alternate between two kinds:

- ``digital``: RGB, white or off-white paper, black or dark ink, text drawn with Pillow's ImageDraw in
  the TrueType fonts found under /usr/share/fonts (``ImageFont.load_default`` when there are none).
- ``scanned``: the same kind of page, then a moderate, clean flatbed scan: a slight bicubic rotation
  (0.3 to 1.5 degrees), a mild Gaussian blur, a paper tint, ink that is not quite black, a smooth
  uneven illumination and mild sensor noise; every third scanned page is saved as grayscale (L).

Layouts cycle through single column, two columns, a title with sections, a ruled table and a numbered
list, every other page of each kind ending in a small footnote. The text is pseudo-random sentences
built from the word list below plus numbers and punctuation, so nothing external is read. The same
seed gives the same pages (numpy ``default_rng`` per page, Pillow for drawing; with the same Pillow /
FreeType versions and the same fonts the files are byte-identical).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_ROOT = Path("/usr/share/fonts")
LAYOUTS = ("single_column", "two_column", "sections", "table", "numbered_list")

WORDS = """
the of and to in is was for that on with as by at from this are be it not or an have which one
has were their all more but been also can its other new first time would after they used two there
year when into some these many most only between may made such people than over three part later
known about during under both while where each well because through world system number state
city work same public found based first water small large house early since government area group
school century high history own several against within name following including being however
another life order report used much four line land music name part place point power process
program question second service side social study table test data value level light model market
paper page letter word text record member office press result river road court field figure form
general human local major national natural north south east west open early private real recent
short simple single special strong total common final full given key long low main modern next old
early past plan present short small support use window report account energy design method energy
change result information problem office product season series period policy position example
effect element evidence factor family feature growth image income language library material memory
network notice object range reason region response sample scale section source space standard
structure subject surface theory training unit version volume weight written
""".split()  # noqa: SIM905 (one word list is easier to read and edit as text)
WORDS = list(dict.fromkeys(WORDS))  # drop repeats, keep order: a fixed list for a fixed seed

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]  # left, top, right, bottom


# --------------------------------------------------------------------------------------------- fonts

def discover_fonts(root: Path = FONT_ROOT) -> dict[str, dict[str, Path]]:
    """TrueType fonts under ``root`` as {family: {style: path}}, e.g. {"DejaVuSerif": {"Bold": ...}}.

    The style is the part of the file name after the last ``-`` ("Regular" when there is none).
    Symbol and maths fonts are left out: they cannot set running text."""
    families: dict[str, dict[str, Path]] = {}
    for path in sorted(root.glob("**/*.ttf")):
        if any(k in path.stem for k in ("Math", "Symbol", "Emoji")):
            continue
        family, _, style = path.stem.partition("-")
        families.setdefault(family, {})[style or "Regular"] = path
    return families


STYLE_CHOICES = {  # what to look for, in order, for each role
    "regular": ("Regular", "Book", "Roman"),
    "light": ("ExtraLight", "Light", "Regular"),
    "bold": ("Bold", "Semibold", "Regular"),
    "italic": ("Italic", "Oblique", "Regular"),
}


def pick_style(styles: dict[str, Path], role: str) -> Path | None:
    """The file of ``styles`` that best plays ``role`` (regular, light, bold, italic)."""
    for name in STYLE_CHOICES[role]:
        if name in styles:
            return styles[name]
    return next(iter(styles.values()), None)


@cache
def load_font(path: Path | None, size: int) -> Font:
    """``path`` at ``size`` px, or Pillow's built-in font at that size when there is no file."""
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(path), size)


def font_size(font: Font) -> int:
    return int(getattr(font, "size", 10))


# ---------------------------------------------------------------------------------------------- text

class TextGen:
    """Pseudo-random English-looking text from :data:`WORDS`, numbers and punctuation."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def word(self) -> str:
        return WORDS[int(self.rng.integers(len(WORDS)))]

    def number(self) -> str:
        r = self.rng
        kind = int(r.integers(8))
        if kind == 0:
            return str(int(r.integers(1900, 2025)))
        if kind == 1:
            return f"{r.uniform(0, 100):.1f}"
        if kind == 2:
            return f"{int(r.integers(1, 100))}%"
        if kind == 3:
            return f"{int(r.integers(1000, 99999)):,}"
        if kind == 4:
            a = int(r.integers(1, 300))
            return f"{a}-{a + int(r.integers(1, 40))}"
        if kind == 5:
            return f"{int(r.integers(0, 24)):02d}:{int(r.integers(0, 60)):02d}"
        if kind == 6:
            return f"No. {int(r.integers(1, 60))}"
        return str(int(r.integers(2, 500)))

    def title(self, lo: int = 2, hi: int = 6) -> str:
        small = {"of", "and", "to", "in", "for", "on", "with", "as", "by", "at", "from", "the", "an", "or"}
        words = [self.word() for _ in range(int(self.rng.integers(lo, hi + 1)))]
        while len(words[0]) < 4:  # start on a content word, not "Of" or "Be"
            words[0] = self.word()
        return " ".join(w if (i and w in small) else w.capitalize() for i, w in enumerate(words))

    def sentence(self, lo: int = 6, hi: int = 18) -> str:
        r = self.rng
        tokens = [self.number() if r.random() < 0.06 else self.word() for _ in range(int(r.integers(lo, hi + 1)))]
        tokens = [t.capitalize() if r.random() < 0.03 else t for t in tokens]  # a proper noun now and then
        if len(tokens) > 6 and r.random() < 0.15:  # a parenthesis or a quotation
            i = int(r.integers(1, len(tokens) - 3))
            j = i + int(r.integers(1, 4))
            left, right = ("(", ")") if r.random() < 0.6 else ("\u201c", "\u201d")
            tokens[i] = left + tokens[i]
            tokens[j - 1] = tokens[j - 1] + right  # j - 1 may be i: one word in brackets
        for i in range(len(tokens) - 1):
            if tokens[i][-1].isalnum() and r.random() < 0.08:
                tokens[i] += "," if r.random() < 0.85 else r.choice([";", ":"])
        tokens[0] = tokens[0][0].upper() + tokens[0][1:]
        end = "." if r.random() < 0.88 else ("?" if r.random() < 0.6 else "!")
        return " ".join(tokens) + end

    def paragraph(self, lo: int = 2, hi: int = 6) -> str:
        return " ".join(self.sentence() for _ in range(int(self.rng.integers(lo, hi + 1))))


# ------------------------------------------------------------------------------------------- styling

@dataclass
class Style:
    """Fonts, spacing and colours of one page."""
    body: Font
    bold: Font
    italic: Font
    small: Font
    small_italic: Font
    title: Font
    subhead: Font
    spacing: float  # line height / font size
    justify: bool
    indent: int  # first-line indent in px (0: block paragraphs separated by a gap)
    ink: RGB
    paper: RGB
    params: dict = field(default_factory=dict)

    def line_height(self, font: Font) -> int:
        return max(font_size(font) + 1, round(font_size(font) * self.spacing))

    @property
    def para_gap(self) -> int:
        return 0 if self.indent else round(font_size(self.body) * 0.6)


def choose_style(rng: np.random.Generator, fonts: dict[str, dict[str, Path]], layout: str, text_width: int,
                 digital: bool) -> Style:
    """Random but sensible typography for a page whose text block is ``text_width`` px wide."""
    names = sorted(fonts)
    family = names[int(rng.integers(len(names)))] if names else "default"
    head_family = family if not names or rng.random() < 0.6 else names[int(rng.integers(len(names)))]
    head_styles = fonts.get(head_family, {})
    weight = "regular" if rng.random() < 0.8 else ("light" if rng.random() < 0.5 else "bold")
    light = [n for n in names if "ExtraLight" in fonts[n] or "Light" in fonts[n]]
    if weight == "light" and light and family not in light:  # only some families have a light weight
        family = light[int(rng.integers(len(light)))]
    styles = fonts.get(family, {})

    body_size = int(rng.integers(10, 17))
    columns = 2 if layout == "two_column" else 1
    while body_size > 9 and (text_width / columns) / body_size < 17:  # keep >= ~30 characters a line
        body_size -= 1
    title_size = int(rng.integers(max(18, body_size + 4), 29))
    subhead_size = min(22, body_size + int(rng.integers(2, 6)))
    small_size = max(9, body_size - int(rng.integers(2, 4)))

    if digital:
        paper = [(255, 255, 255), (252, 251, 248), (250, 250, 250), (253, 252, 245)][int(rng.integers(4))]
        ink = [(0, 0, 0), (20, 20, 20), (35, 35, 35), (15, 20, 40)][int(rng.integers(4))]
    else:  # the scan simulation tints the paper and lifts the ink itself
        paper, ink = (255, 255, 255), (0, 0, 0)

    body_path = pick_style(styles, weight) if styles else None
    bold_path = pick_style(styles, "bold") if styles else None
    italic_path = pick_style(styles, "italic") if styles else None
    head_path = pick_style(head_styles, "bold") if head_styles else None
    style = Style(
        body=load_font(body_path, body_size),
        bold=load_font(bold_path, body_size),
        italic=load_font(italic_path, body_size),
        small=load_font(pick_style(styles, "regular") if styles else None, small_size),
        small_italic=load_font(italic_path, small_size),
        title=load_font(head_path, title_size),
        subhead=load_font(head_path, subhead_size),
        spacing=round(float(rng.uniform(1.15, 1.6)), 2),
        justify=bool(rng.random() < 0.5),
        indent=int(rng.integers(2, 4)) * body_size if rng.random() < 0.4 else 0,
        ink=ink,
        paper=paper,
    )
    style.params = {
        "body_font": body_path.name if body_path else "load_default", "heading_font":
        head_path.name if head_path else "load_default", "body_size": body_size, "title_size": title_size,
        "subhead_size": subhead_size, "small_size": small_size, "spacing": style.spacing,
        "justify": style.justify, "indent": style.indent, "ink": list(ink), "paper": list(paper),
    }
    return style


# ---------------------------------------------------------------------------------------- typesetting

def wrap(words: list[str], font: Font, width: float, first_indent: float = 0) -> list[list[str]]:
    """Greedy line breaking of ``words`` to ``width`` px (the first line ``first_indent`` px shorter)."""
    space = font.getlength(" ")
    lines: list[list[str]] = []
    line: list[str] = []
    used = first_indent
    for w in words:
        wl = font.getlength(w)
        if line and used + space + wl > width:
            lines.append(line)
            line, used = [w], wl
        else:
            used += (space if line else 0) + wl
            line.append(w)
    if line:
        lines.append(line)
    return lines


def draw_line(draw: ImageDraw.ImageDraw, words: list[str], font: Font, x: float, top: float, width: float,
              ink: RGB, justify: bool) -> None:
    """One line of ``words`` whose box starts at (``x``, ``top``), spread to ``width`` when ``justify``."""
    baseline = top + font.getmetrics()[0]
    if not justify or len(words) < 2:
        draw.text((x, baseline), " ".join(words), font=font, fill=ink, anchor="ls")
        return
    lengths = [font.getlength(w) for w in words]
    gap = (width - sum(lengths)) / (len(words) - 1)
    for w, wl in zip(words, lengths):
        draw.text((round(x), baseline), w, font=font, fill=ink, anchor="ls")
        x += wl + gap


def fits(font: Font, top: float, bottom: float) -> bool:
    ascent, descent = font.getmetrics()
    return top + ascent + descent <= bottom


def draw_paragraph(draw: ImageDraw.ImageDraw, text: str, font: Font, style: Style, x: int, top: int, width: int,
                   bottom: int, indent: int | None = None, justify: bool | None = None) -> int:
    """``text`` set at (x, top) in ``width`` px, stopping at ``bottom``; returns the y below it."""
    indent = style.indent if indent is None else indent
    justify = style.justify if justify is None else justify
    lines = wrap(text.split(), font, width, indent)
    y = top
    for i, words in enumerate(lines):
        if not fits(font, y, bottom):
            return y
        shift = indent if i == 0 else 0
        draw_line(draw, words, font, x + shift, y, width - shift, style.ink, justify and i < len(lines) - 1)
        y += style.line_height(font)
    return y + style.para_gap


@dataclass
class Line:
    words: list[str]
    first: bool
    last: bool


class Flow:
    """Endless body text wrapped to one column width, handed out a line at a time, so it can run on
    from one column into the next."""

    def __init__(self, text: TextGen, style: Style, width: int) -> None:
        self.text, self.style, self.width = text, style, width
        self.pending: list[Line] = []

    def peek(self) -> Line:
        if not self.pending:
            lines = wrap(self.text.paragraph().split(), self.style.body, self.width, self.style.indent)
            self.pending = [Line(w, i == 0, i == len(lines) - 1) for i, w in enumerate(lines)]
        return self.pending[0]

    def fill(self, draw: ImageDraw.ImageDraw, box: Box) -> int:
        """Lines into ``box`` until the next one does not fit; returns the y below the last."""
        left, top, right, bottom = box
        st, y = self.style, top
        while fits(st.body, y, bottom):
            line = self.peek()
            shift = st.indent if line.first else 0
            draw_line(draw, line.words, st.body, left + shift, y, right - left - shift, st.ink,
                      st.justify and not line.last)
            self.pending.pop(0)
            y += st.line_height(st.body) + (st.para_gap if line.last else 0)
        return y


# --------------------------------------------------------------------------------------- page pieces

def draw_title(draw: ImageDraw.ImageDraw, style: Style, text: TextGen, box: Box, rng: np.random.Generator,
               centred: bool) -> int:
    """A title (possibly on two lines) and an italic byline; returns the y below them."""
    left, top, right, _ = box
    y = top
    for words in wrap(text.title(3, 9).split(), style.title, right - left)[:2]:
        line = " ".join(words)
        x = (left + right - style.title.getlength(line)) / 2 if centred else left
        draw_line(draw, words, style.title, x, y, right - left, style.ink, False)
        y += round(font_size(style.title) * 1.2)
    if rng.random() < 0.7:
        byline = f"{text.title(2, 3)}, {text.title(1, 3)} {int(rng.integers(1950, 2025))}"
        x = (left + right - style.italic.getlength(byline)) / 2 if centred else left
        y += round(font_size(style.body) * 0.3)
        draw_line(draw, byline.split(), style.italic, x, y, right - left, style.ink, False)
        y += style.line_height(style.italic)
    return y + round(font_size(style.body) * 0.9)


def draw_running_header(draw: ImageDraw.ImageDraw, style: Style, text: TextGen, box: Box,
                        rng: np.random.Generator) -> int:
    """A small italic running header with a page number and a rule under it; returns the y below."""
    left, top, right, _ = box
    draw_line(draw, text.title(2, 5).split(), style.small_italic, left, top, right - left, style.ink, False)
    number = str(int(rng.integers(2, 400)))
    draw_line(draw, [number], style.small, right - style.small.getlength(number), top, 0, style.ink, False)
    y = top + style.line_height(style.small) + 2
    draw.line([(left, y), (right, y)], fill=style.ink, width=1)
    return y + round(font_size(style.body) * 1.0)


def reserve_footnote(style: Style, text: TextGen, box: Box) -> tuple[list[list[str]], int]:
    """The footnote's lines and the y where its rule goes, so the body can stop above it."""
    left, _, right, bottom = box
    sentences = [text.sentence(8, 20) for _ in range(int(text.rng.integers(1, 3)))]
    note = f"{int(text.rng.integers(1, 9))} " + " ".join(sentences)
    lines = wrap(note.split(), style.small, right - left)[:3]
    height = len(lines) * style.line_height(style.small)
    return lines, bottom - height - round(font_size(style.small) * 0.8)


def draw_footnote(draw: ImageDraw.ImageDraw, style: Style, lines: list[list[str]], box: Box, rule_y: int) -> None:
    left, _, right, _ = box
    draw.line([(left, rule_y), (left + (right - left) // 3, rule_y)], fill=style.ink, width=1)
    y = rule_y + round(font_size(style.small) * 0.5)
    for i, words in enumerate(lines):
        draw_line(draw, words, style.small, left, y, right - left, style.ink, style.justify and i < len(lines) - 1)
        y += style.line_height(style.small)


def draw_page_number(draw: ImageDraw.ImageDraw, style: Style, page: Box, margin_bottom: int,
                     rng: np.random.Generator) -> None:
    """A centred page number in the bottom margin."""
    left, _, right, bottom = page
    number = f"- {int(rng.integers(1, 300))} -" if rng.random() < 0.3 else str(int(rng.integers(1, 300)))
    x = (left + right - style.small.getlength(number)) / 2
    ascent, descent = style.small.getmetrics()
    y = bottom + (margin_bottom - ascent - descent) // 2
    draw.text((x, y + ascent), number, font=style.small, fill=style.ink, anchor="ls")


def table_cells(text: TextGen, rng: np.random.Generator, ncols: int, nrows: int) -> list[list[str]]:
    """A header row and ``nrows`` rows: a label column, then number columns of one format each."""
    formats = ["int", "decimal", "percent", "year", "money", "count"]
    kinds = [formats[int(rng.integers(len(formats)))] for _ in range(ncols - 1)]

    def cell(kind: str) -> str:
        if kind == "int":
            return str(int(rng.integers(0, 1000)))
        if kind == "decimal":
            return f"{rng.uniform(0, 100):.2f}"
        if kind == "percent":
            return f"{rng.uniform(0, 100):.1f}%"
        if kind == "year":
            return str(int(rng.integers(1950, 2025)))
        if kind == "money":
            return f"${rng.uniform(1, 9999):,.2f}"
        return f"{int(rng.integers(1000, 999999)):,}"

    rows = [[text.title(1, 2) for _ in range(ncols)]]
    for _ in range(nrows):
        label = text.word().capitalize() + (" " + text.word() if rng.random() < 0.5 else "")
        rows.append([label] + [cell(k) for k in kinds])
    return rows


def draw_table(draw: ImageDraw.ImageDraw, style: Style, text: TextGen, rng: np.random.Generator,
               box: Box) -> tuple[int, dict]:
    """A captioned table with ruled lines at the top of ``box``; returns the y below it and its parameters."""
    left, top, right, bottom = box
    width = right - left
    pad = round(font_size(style.body) * 0.6)
    row_h = round(font_size(style.body) * float(rng.uniform(1.5, 2.0)))
    ncols = int(rng.integers(3, 6))
    rows = table_cells(text, rng, ncols, int(rng.integers(6, 14)))

    def col_widths(rows: list[list[str]]) -> list[float]:
        return [max((style.bold if r == 0 else style.body).getlength(row[c]) for r, row in enumerate(rows)) + 2 * pad
                for c in range(len(rows[0]))]

    widths = col_widths(rows)
    while sum(widths) > width and len(rows[0]) > 2:  # too wide: drop the last column
        rows = [row[:-1] for row in rows]
        widths = col_widths(rows)
    if rng.random() < 0.5:  # full measure: share the spare width out
        widths = [w + (width - sum(widths)) / len(widths) for w in widths]

    caption = f"Table {int(rng.integers(1, 12))}. {text.sentence(4, 10).rstrip('.?!')}."
    y = draw_paragraph(draw, caption, style.italic if rng.random() < 0.5 else style.bold, style, left, top,
                       width, bottom, indent=0, justify=False)
    y += pad
    room = (bottom - y) // row_h - 1
    rows = rows[:max(2, min(len(rows), room))]
    rules = ["grid", "booktabs", "rows"][int(rng.integers(3))]
    x0, x1 = left, left + round(sum(widths))
    ascent, descent = style.body.getmetrics()
    for r, row in enumerate(rows):
        row_top = y + r * row_h
        baseline = row_top + (row_h + ascent - descent) / 2
        x = float(x0)
        for c, (value, w) in enumerate(zip(row, widths)):
            font = style.bold if r == 0 else style.body
            tx = x + pad if c == 0 else x + w - pad - font.getlength(value)  # labels left, numbers right
            draw.text((round(tx), baseline), value, font=font, fill=style.ink, anchor="ls")
            x += w
        if rules == "grid" or rules == "rows" or r == 0:
            draw.line([(x0, row_top + row_h), (x1, row_top + row_h)], fill=style.ink, width=1)
    y_end = y + len(rows) * row_h
    heavy = 2 if rules == "booktabs" else 1
    draw.line([(x0, y), (x1, y)], fill=style.ink, width=heavy)
    draw.line([(x0, y_end), (x1, y_end)], fill=style.ink, width=heavy)
    if rules == "grid":
        x = float(x0)
        for w in [0.0] + widths:
            x += w
            draw.line([(round(x), y), (round(x), y_end)], fill=style.ink, width=1)
    return y_end + font_size(style.body), {"table_columns": len(rows[0]), "table_rows": len(rows) - 1,
                                             "table_rules": rules}


def draw_numbered_list(draw: ImageDraw.ImageDraw, style: Style, text: TextGen, rng: np.random.Generator,
                       box: Box, items: int) -> tuple[int, dict]:
    """Up to ``items`` numbered items with a hanging indent; returns the y below and the parameters."""
    left, top, right, bottom = box
    marker = ["{}.", "{})", "({})"][int(rng.integers(3))]
    hang = round(max(style.body.getlength(marker.format(n)) for n in range(1, items + 1)) + font_size(style.body) * 0.8)
    y, drawn = top, 0
    for n in range(1, items + 1):
        if not fits(style.body, y, bottom):
            break
        label = marker.format(n)
        draw_line(draw, [label], style.body, left + hang - font_size(style.body) * 0.5 - style.body.getlength(label),
                  y, 0, style.ink, False)
        body = " ".join(text.sentence(5, 16) for _ in range(int(rng.integers(1, 4))))
        y = draw_paragraph(draw, body, style.body, style, left + hang, y, right - left - hang, bottom, indent=0)
        y += round(font_size(style.body) * 0.3) - style.para_gap
        drawn += 1
    return y + font_size(style.body) // 2, {"list_items": drawn, "list_marker": marker}


# ------------------------------------------------------------------------------------------- layouts

def layout_single_column(draw: ImageDraw.ImageDraw, style: Style, text: TextGen, rng: np.random.Generator,
                         box: Box) -> dict:
    """A running header (sometimes), then body text to the bottom."""
    top = box[1]
    header = bool(rng.random() < 0.6)
    if header:
        top = draw_running_header(draw, style, text, box, rng)
    Flow(text, style, box[2] - box[0]).fill(draw, (box[0], top, box[2], box[3]))
    return {"running_header": header}


def layout_two_column(draw: ImageDraw.ImageDraw, style: Style, text: TextGen, rng: np.random.Generator,
                      box: Box) -> dict:
    """A title across the page, then body text running down the left column and on into the right."""
    left, _, right, bottom = box
    y = draw_title(draw, style, text, box, rng, centred=bool(rng.random() < 0.6))
    gap = int(rng.integers(2, 4)) * font_size(style.body)
    col = (right - left - gap) // 2
    flow = Flow(text, style, col)
    flow.fill(draw, (left, y, left + col, bottom))
    flow.fill(draw, (right - col, y, right, bottom))
    divider = bool(rng.random() < 0.4)
    if divider:
        x = left + col + gap // 2
        draw.line([(x, y), (x, bottom)], fill=style.ink, width=1)
    return {"column_gap": gap, "column_rule": divider}


def layout_sections(draw: ImageDraw.ImageDraw, style: Style, text: TextGen, rng: np.random.Generator,
                    box: Box) -> dict:
    """A title, then numbered section headings each followed by one to three paragraphs."""
    left, _, right, bottom = box
    y = draw_title(draw, style, text, box, rng, centred=bool(rng.random() < 0.4))
    sections = 0
    while fits(style.subhead, y, bottom - 3 * style.line_height(style.body)):
        sections += 1
        y = draw_paragraph(draw, f"{sections} {text.title(2, 5)}", style.subhead, style, left, y, right - left,
                           bottom, indent=0, justify=False) + round(font_size(style.body) * 0.4)
        for _ in range(int(rng.integers(1, 4))):
            if not fits(style.body, y, bottom):
                break
            y = draw_paragraph(draw, text.paragraph(2, 5), style.body, style, left, y, right - left, bottom)
        y += round(font_size(style.body) * 0.6)
    return {"sections": sections}


def layout_table(draw: ImageDraw.ImageDraw, style: Style, text: TextGen, rng: np.random.Generator,
                 box: Box) -> dict:
    """An introductory paragraph, a ruled table, then body text to the bottom."""
    left, top, right, bottom = box
    y = draw_paragraph(draw, text.paragraph(2, 4), style.body, style, left, top, right - left, bottom)
    y += round(font_size(style.body) * 0.5)
    y, params = draw_table(draw, style, text, rng, (left, y, right, bottom))
    Flow(text, style, right - left).fill(draw, (left, y, right, bottom))
    return params


def layout_numbered_list(draw: ImageDraw.ImageDraw, style: Style, text: TextGen, rng: np.random.Generator,
                         box: Box) -> dict:
    """A subheading, an introductory paragraph, a numbered list, then body text to the bottom."""
    left, top, right, bottom = box
    y = draw_paragraph(draw, text.title(2, 6), style.subhead, style, left, top, right - left, bottom,
                       indent=0, justify=False) + round(font_size(style.body) * 0.4)
    y = draw_paragraph(draw, text.paragraph(1, 3), style.body, style, left, y, right - left, bottom)
    y, params = draw_numbered_list(draw, style, text, rng, (left, y, right, bottom), int(rng.integers(4, 12)))
    Flow(text, style, right - left).fill(draw, (left, y, right, bottom))
    return params


LAYOUT_FUNCS = {
    "single_column": layout_single_column,
    "two_column": layout_two_column,
    "sections": layout_sections,
    "table": layout_table,
    "numbered_list": layout_numbered_list,
}


# ---------------------------------------------------------------------------------------------- pages

def render_page(rng: np.random.Generator, fonts: dict[str, dict[str, Path]], layout: str, footnote: bool,
                digital: bool) -> tuple[Image.Image, dict]:
    """One clean RGB page of ``layout`` and the parameters it was drawn with."""
    width, height = (int(rng.integers(256, 385)) * 2 for _ in range(2))
    margins = {k: int(rng.integers(24, 65)) for k in ("left", "right", "top", "bottom")}
    box: Box = (margins["left"], margins["top"], width - margins["right"], height - margins["bottom"])
    style = choose_style(rng, fonts, layout, box[2] - box[0], digital)
    text = TextGen(rng)
    img = Image.new("RGB", (width, height), style.paper)
    draw = ImageDraw.Draw(img)

    body_box = box
    if footnote:
        note_lines, rule_y = reserve_footnote(style, text, box)
        draw_footnote(draw, style, note_lines, box, rule_y)
        body_box = (box[0], box[1], box[2], rule_y - font_size(style.body))
    params = LAYOUT_FUNCS[layout](draw, style, text, rng, body_box)
    page_number = bool(margins["bottom"] >= 32 and rng.random() < 0.5)
    if page_number:
        draw_page_number(draw, style, box, margins["bottom"], rng)
    return img, {"width": width, "height": height, "margins": margins, "footnote": footnote,
                 "page_number": page_number, **style.params, **params}


def simulate_scan(img: Image.Image, rng: np.random.Generator, gray: bool) -> tuple[Image.Image, dict]:
    """A moderate, clean flatbed scan of a white page with black ink: slight rotation, blur, paper tint,
    ink that is not quite black, uneven illumination and mild sensor noise."""
    angle = float(rng.uniform(0.3, 1.5) * rng.choice([-1.0, 1.0]))
    blur = float(rng.uniform(0.4, 0.9))
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    img = img.filter(ImageFilter.GaussianBlur(blur))
    coverage = np.asarray(img, np.float32) / 255.0  # 1 = bare paper, 0 = full ink

    base = float(rng.uniform(0.90, 0.97))
    yellow = float(rng.uniform(0.0, 0.06))
    paper = np.array([base, base - yellow * 0.3, base - yellow], np.float32)
    ink = float(rng.uniform(0.06, 0.16))
    page = ink + (paper - ink) * coverage

    h, w = coverage.shape[:2]
    theta = float(rng.uniform(0, 2 * np.pi))
    strength = float(rng.uniform(0.03, 0.09))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx / w - 0.5) * np.cos(theta) + (yy / h - 0.5) * np.sin(theta)  # -0.7 .. 0.7
    light = 1.0 - strength * (ramp - ramp.min()) / (ramp.max() - ramp.min())
    page = page * light[..., None]

    if gray:
        page = page @ np.array([0.299, 0.587, 0.114], np.float32)
    sigma = float(rng.uniform(1.0, 4.0))
    out = page * 255.0 + rng.normal(0.0, sigma, page.shape).astype(np.float32)
    out_img = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "L" if gray else "RGB")
    return out_img, {"scan": {"angle_deg": round(angle, 3), "blur_radius": round(blur, 3),
                              "paper": [round(float(v), 3) for v in paper], "ink": round(ink, 3),
                              "illumination_drop": round(strength, 3), "illumination_angle_deg":
                              round(float(np.degrees(theta)), 1), "noise_sigma": round(sigma, 2)}}


def page_plan(index: int) -> tuple[str, str, bool, bool]:
    """Kind, layout, footnote and grayscale of page ``index``: kinds alternate, each kind cycles the
    layouts, every other page of a kind has a footnote, every third scanned page is grayscale."""
    kind = "digital" if index % 2 == 0 else "scanned"
    n = index // 2
    return kind, LAYOUTS[n % len(LAYOUTS)], n % 2 == 1, kind == "scanned" and n % 3 == 2


def make_page(seed: int, index: int, fonts: dict[str, dict[str, Path]]) -> tuple[Image.Image, dict]:
    kind, layout, footnote, gray = page_plan(index)
    rng = np.random.default_rng([seed, index])  # per page: one page's draws never shift another's
    img, params = render_page(rng, fonts, layout, footnote, digital=kind == "digital")
    if kind == "scanned":
        img, scan = simulate_scan(img, rng, gray)
        params.update(scan)
    return img, {"kind": kind, "layout": layout, "mode": img.mode, **params}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the pages and MANIFEST.json")
    ap.add_argument("--count", type=int, default=24, help="number of pages (default 24)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    fonts = discover_fonts()
    if not fonts:
        print(f"no .ttf under {FONT_ROOT}: using Pillow's built-in font")
    t0 = time.perf_counter()
    pages = []
    for i in range(args.count):
        img, params = make_page(args.seed, i, fonts)
        name = f"{i:03d}_{params['kind']}_{params['layout']}.png"
        img.save(args.out / name)
        pages.append({"file": name, **params})
    manifest = {"generator": "bench/textpages.py", "seed": args.seed, "count": args.count,
                "fonts": sorted(str(p) for styles in fonts.values() for p in styles.values()), "pages": pages}
    (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    kinds = {k: sum(p["kind"] == k for p in pages) for k in ("digital", "scanned")}
    print(f"{args.count} pages ({kinds['digital']} digital, {kinds['scanned']} scanned) in {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
