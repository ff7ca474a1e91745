"""The model card's quality tables from runs of the peer benchmark (../shared/tools/peers/peers_bench.py).

    .venv/bin/python bench/peer_table.py out/peers/peers-q75.json out/peers/mchmc-q75.json ...

Each JSON is one run of the peer benchmark (``--out``), over one folder per category (folder names
nature / manga / text, e.g. symlinks to the fold-1 test images). Files with the same JPEG quality
(``protocol.lr_jpeg_quality``; none = clean inputs) are merged into one table, the methods in the order
they first appear: PSNR-Y / SSIM-Y (crop 2) per category, then MP/s per category of the run that
measured that method (HR output megapixels per second; for a command-line extra, its whole wall time).
Only reads the benchmark's output; the measuring is the benchmark's.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from mchmc.markdown import table

CATEGORIES = ("nature", "manga", "text")


def rows_of(paths: list[Path]) -> dict[object, dict[str, dict[str, dict]]]:
    """quality -> method -> category -> the benchmark's summary entry."""
    out: dict[object, dict[str, dict[str, dict]]] = {}
    for path in paths:
        doc = json.loads(path.read_text())
        q = doc["protocol"].get("lr_jpeg_quality")
        for folder, res in doc["folders"].items():
            cat = Path(folder).name
            for entry in res["summary"]:
                out.setdefault(q, {}).setdefault(entry["method"], {})[cat] = {**entry, "n": res["n_images"]}
    return out


def markdown(by_quality: dict) -> str:
    parts = []
    for q in sorted(by_quality, key=lambda x: -1 if x is None else -x):
        methods = by_quality[q]
        counts = {c: next((m[c]["n"] for m in methods.values() if c in m), 0) for c in CATEGORIES}
        title = "clean (PNG) inputs" if q is None else f"LR stored as JPEG q{q} (4:2:0)"
        rows = []
        for name, cats in methods.items():
            row = {"method": name}
            for c in CATEGORIES:
                e = cats.get(c)
                row[f"{c} ({counts[c]})"] = f"{e['psnr']:.2f} / {e['ssim']:.4f}" if e else ""
            row["MP/s " + " / ".join(CATEGORIES)] = " / ".join(
                f"{cats[c]['mp_per_s']:.3g}" if c in cats else "-" for c in CATEGORIES)
            rows.append(row)
        parts.append(f"**{title}**, PSNR-Y dB / SSIM-Y, crop 2\n\n{table(rows)}")
    return "\n\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="+", type=Path)
    print(markdown(rows_of(ap.parse_args().json)))


if __name__ == "__main__":
    main()
