"""Every byte a run writes, as digests: to show a refactor changed no output.

    .venv/bin/python bench/output_digests.py --out /tmp/after.json
    PYTHONPATH=../before .venv/bin/python bench/output_digests.py --out /tmp/before.json
    diff /tmp/before.json /tmp/after.json          # empty: byte-identical

Builds one input folder from ``samples/`` (the four sample pages as they are, a
CBZ of them, a scanned PDF of two of them: one DCT page, one Flate gray page),
runs ``mchmc upscale`` over it once per precision (fp32, bf16; plus --scale 4
and --tta in fp32) and records the SHA-256 of every page, volume and PDF
written, and what the report says of each page (less times and workers). The python that runs this
script runs the CLI too, so ``PYTHONPATH`` picks which checkout is measured.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
# The CLI of the checkout that ``mchmc`` resolves to (an editable install maps mchmc.cli to its own
# checkout's cli/, so PYTHONPATH alone would mix two checkouts).
CLI = """import importlib.util, pathlib, sys, mchmc
cli = pathlib.Path(mchmc.__file__).parents[1] / "cli"
spec = importlib.util.spec_from_file_location("mchmc.cli", cli / "__init__.py", submodule_search_locations=[str(cli)])
sys.modules["mchmc.cli"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sys.modules["mchmc.cli"])
from mchmc.cli.app import main
sys.argv[0] = "mchmc"
sys.exit(main())
"""
RUNS = {"fp32": ["--precision", "fp32"], "bf16": ["--precision", "bf16"],
        "fp32-x4": ["--precision", "fp32", "--scale", "4"], "fp32-tta": ["--precision", "fp32", "--tta"]}


def make_inputs(src: Path) -> None:
    """The sample pages, a CBZ of them and a two-page scanned PDF (fixed zip times: the same bytes every run)."""
    import pikepdf
    from pikepdf import Name

    src.mkdir(parents=True)
    samples = sorted((ROOT / "samples").glob("*.*"))
    for p in samples:
        (src / p.name).write_bytes(p.read_bytes())
    with zipfile.ZipFile(src / "volume.cbz", "w") as z:
        for i, p in enumerate(samples):
            z.writestr(zipfile.ZipInfo(f"{i:03d}{p.suffix}", date_time=(2026, 1, 1, 0, 0, 0)), p.read_bytes())
    pdf = pikepdf.new()
    rgb = np.asarray(Image.open(ROOT / "samples" / "landscape.jpg").convert("RGB"))
    gray = np.asarray(Image.open(ROOT / "samples" / "manga-page-gray.png").convert("L"))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=85)
    images = [pikepdf.Stream(pdf, buf.getvalue(), Type=Name.XObject, Subtype=Name.Image, Width=rgb.shape[1],
                             Height=rgb.shape[0], ColorSpace=Name.DeviceRGB, BitsPerComponent=8,
                             Filter=Name.DCTDecode),
              pikepdf.Stream(pdf, zlib.compress(gray.tobytes()), Type=Name.XObject, Subtype=Name.Image,
                             Width=gray.shape[1], Height=gray.shape[0], ColorSpace=Name.DeviceGray,
                             BitsPerComponent=8, Filter=Name.FlateDecode)]
    for im in images:
        w, h = int(im.Width) * 72 / 150, int(im.Height) * 72 / 150
        content = f"q {w:.2f} 0 0 {h:.2f} 0 0 cm /Im0 Do Q".encode()
        page = pikepdf.Dictionary(Type=Name.Page, MediaBox=[0, 0, w, h],
                                  Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=im)),
                                  Contents=pikepdf.Stream(pdf, content))
        pdf.pages.append(pikepdf.Page(page))
    pdf.save(src / "scan.pdf", deterministic_id=True)


def digests(dst: Path) -> dict[str, str]:
    return {str(p.relative_to(dst)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(dst.rglob("*")) if p.is_file() and ".mchmc" not in p.parts
            and not p.name.startswith("mchmc-")}


def records(jsonl: Path, tmp: str) -> list[dict]:
    """What the report says of each page, less what varies between runs (times, workers, paths)."""
    keep = ("status", "error", "category", "probs", "width", "height", "notes", "noise", "noise_reason", "model")
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    out = [{"input": r["input"].replace(tmp, ""), **{k: r.get(k) for k in keep}} for r in rows]
    return sorted(out, key=lambda r: r["input"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON file of {run: {output: sha256}}")
    ap.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of " + ",".join(RUNS))
    args = ap.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        make_inputs(src)
        result["inputs"] = digests(src)
        for name in args.runs.split(","):
            dst = Path(tmp) / f"out-{name}"
            cmd = [sys.executable, "-c", CLI, "upscale", str(src), "--out", str(dst), "--cpus", "1", *RUNS[name]]
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
            if proc.returncode:
                print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
                return proc.returncode
            result[name] = digests(dst)
            result[name + " records"] = records(dst / "mchmc-upscale-report.jsonl", tmp)
            print(f"{name}: {len(result[name])} outputs", file=sys.stderr)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
