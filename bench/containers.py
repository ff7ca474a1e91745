"""Pages per second of a CBZ volume against the same pages as loose files, in one run.

    .venv/bin/python bench/containers.py                      # 200 pages of 256x192, 2 CPU workers
    .venv/bin/python bench/containers.py --pages 200 --jpeg   # the pages as JPEGs (most comic volumes)
    .venv/bin/python bench/containers.py --size 800x1200 --pages 60

The same pages (cut from samples/ by ``bench/archive.py``'s page maker) go
through the real ``mchmc upscale`` twice per repeat, alternating: once as a
folder of loose files, once packed in one ``.cbz`` (pages stored, as comic
tools pack them, plus a ``ComicInfo.xml``). Work seconds are the CLI's own
(first worker ready to last record; for the volume, its last record is the
volume's, so writing the volume back is included); start-up is apart. The
table gives the median of ``--repeat`` runs; ``ratio`` is the volume's
pages/s over the loose files' (the issue's goal: close to 1).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from archive import cli_run, make_pages  # noqa: E402  (bench/ is not a package)

COMIC_INFO = b'<?xml version="1.0"?>\n<ComicInfo><Series>bench</Series></ComicInfo>\n'


def pack(pages: list[Path], volume: Path) -> None:
    """The loose pages as one volume, in order, stored (pages are already compressed)."""
    with zipfile.ZipFile(volume, "w") as z:
        z.writestr("ComicInfo.xml", COMIC_INFO, compress_type=zipfile.ZIP_DEFLATED)
        for p in pages:
            z.write(p, f"pages/{p.name}", compress_type=zipfile.ZIP_STORED)


def as_jpeg(pages: list[Path]) -> list[Path]:
    out = []
    for p in pages:
        with Image.open(p) as im:
            im.save(p.with_suffix(".jpg"), quality=90)
        p.unlink()
        out.append(p.with_suffix(".jpg"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--size", default="256x192", help="WxH of each page (LR)")
    ap.add_argument("--jpeg", action="store_true", help="pages as JPEG q90 instead of PNG")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--model", help="model name or file (default: the shipped SRforMC)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    w, h = map(int, args.size.lower().split("x"))
    work = Path(tempfile.mkdtemp(prefix="mchmc-bench-cbz-"))
    runs: dict[str, list[tuple[float, float, float]]] = {"loose": [], "cbz": []}
    try:
        pages = make_pages(work / "loose", args.pages, w, h, None)
        pages = as_jpeg(pages) if args.jpeg else pages
        (work / "volume").mkdir()
        pack(pages, work / "volume" / "vol.cbz")
        for _ in range(args.repeat):
            for kind, src in (("loose", work / "loose"), ("cbz", work / "volume")):
                out = work / f"out-{kind}"
                shutil.rmtree(out, ignore_errors=True)
                _, sec, start, total = cli_run(src, out, args.cpus, args.model, args.tile, args.precision)
                runs[kind].append((sec, start, total))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in runs.items()}
    loose_pps = args.pages / med["loose"][0]
    fmt = "JPEG q90" if args.jpeg else "PNG"
    print(f"\n{args.pages} pages of {w}x{h} ({fmt}), --cpus {args.cpus}, tile {args.tile}, {args.precision}, "
          f"{os.cpu_count()} cores; median of {args.repeat}\n")
    print("| pages as | work s | pages/s | ratio | start-up s | total s |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, name in (("loose", "loose files"), ("cbz", "one .cbz")):
        sec, start, total = med[kind]
        pps = args.pages / sec
        print(f"| {name} | {sec:.1f} | {pps:.2f} | {pps / loose_pps:.2f} | {start:.1f} | {total:.1f} |")


if __name__ == "__main__":
    main()
