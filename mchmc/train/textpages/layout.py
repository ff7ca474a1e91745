"""Page layouts of the rendered document pages: tables, lists, the five layouts and a whole page."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mchmc.train.textpages.draw import (Flow, draw_footnote, draw_line, draw_page_number, draw_paragraph,
                                        draw_running_header, draw_title, fits, reserve_footnote)
from mchmc.train.textpages.style import Box, Style, TextGen, choose_style, font_size




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
