"""Fonts, words and page styles of the rendered document pages (the package docstring says what they are)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import ImageFont

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
