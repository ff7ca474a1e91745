"""Drawing text on a rendered page: wrapping, lines, paragraphs, flowing columns, titles, footnotes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from mchmc.train.textpages.style import Box, Font, RGB, Style, TextGen, font_size




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
