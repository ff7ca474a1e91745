"""Coverage-guided fuzz of containers, CBZ or PDF (issue 28, B6): the plan and
the member path must turn *any* bytes into pages or into one-line errors.

What a batch run does with a container, in the order it does it, on arbitrary
bytes written to ``vol.cbz`` or ``doc.pdf``:

- the plan: ``count_pages`` (must return, never raise);
- the driver: ``entries`` (the volume's checks: one ``MchmcError`` at most);
- each page's member call: ``extract`` into a file, then the page reader
  (``page_sizes``, ``read_pages``) over what came out;
- the assembly: ``write_container`` with every extracted page put back.

It fails (a finding) on any exception that is not an ``MchmcError``, on a
message that is not one line starting with the container's (or the entry's)
name, on a Python type name standing in for the problem, and on running out
of memory instead of refusing. Run it as ``fuzz_reader.py`` is run, with
``--format=cbz`` or ``--format=pdf`` (an empty corpus folder is seeded with
the containers the tests make)::

    FUZZ_KEEP_GOING=out/fuzz/pdf-findings nice -n 5 python tests/fuzz/fuzz_container.py --format=pdf \\
        out/fuzz/pdf-corpus -max_total_time=600 -timeout=30 -rss_limit_mb=4096 -max_len=65536 \\
        -artifact_prefix=out/fuzz/pdf-

Replay inputs: ``python tests/fuzz/fuzz_container.py --format=pdf FILE...``.
Without atheris, ``-runs=N`` mutated seeds through :func:`mutation_fuzz`.

What it found is kept under tests/hostile/containers/ (tests/test_hostile_containers.py
runs each through :func:`check_bytes`): page images whose data qpdf's or Pillow's
codecs refuse (a Flate stream with a bad header, a buffer too small, "not enough
image data", an unfilterable stream), an image XObject that is a dictionary
without data, a ZIP entry whose offset lies before the file.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from fuzz_reader import MAX_BYTES, MAX_PIXELS, Finding, keep, mutate  # noqa: E402

NAMES = {"cbz": "vol.cbz", "pdf": "doc.pdf"}
PAGES = 4  # pages of one input extracted and read (the rest are like them)
TYPE_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b")


def check_bytes(data: bytes, workdir: Path, fmt: str) -> int:
    """The run's container steps over ``data`` (see the module doc); returns how many pages were read."""
    from mchmc import pages as pageio
    from mchmc.containers.entry import IMAGE, member_path
    from mchmc.containers.formats import handler
    from mchmc.errors import MchmcError, PageError

    path = workdir / NAMES[fmt]
    path.write_bytes(data)
    for old in workdir.glob("0*"):
        old.unlink()
    module, read = handler(path), 0
    module.count_pages(path)
    try:
        found = module.entries(path, MAX_PIXELS)
    except MchmcError as err:
        _check(err, str(path), "entries")
        return 0
    replaced = {}
    for entry in [e for e in found if e.kind == IMAGE][:PAGES]:
        where = member_path(path, entry.name)
        page = workdir / f"{entry.index:05d}{entry.suffix or Path(entry.name).suffix}.in"
        try:
            with open(page, "wb") as out:
                module.extract(path, entry, out, MAX_PIXELS)
        except MchmcError as err:
            _check(err, where, "extract")
            continue
        try:
            pageio.page_sizes(page, MAX_PIXELS, max_bytes=MAX_BYTES, check_density=True)
            read += len(list(pageio.read_pages(page, MAX_PIXELS, max_bytes=MAX_BYTES)))
        except PageError as err:
            _check(err, str(page), "read")
            continue
        name, suffix = module.page_names(entry, lambda p: p.name)
        replaced[entry.index] = (name, page.rename(page.with_suffix("")))
    try:
        module.write_container(path, io.BytesIO(), replaced, MAX_PIXELS)
    except MchmcError as err:
        _check(err, str(path), "write_container")
    return read


def _check(err: Exception, where: str, step: str) -> None:
    """One line naming ``where``, in words: the page reader's messages too (they may add what the
    codec said, never its exception's type)."""
    from mchmc.errors import shown

    msg = str(err)
    if "\n" in msg or not msg.startswith((f"{shown(where)}: ", f"{shown(where)}!/")):  # the file, or its entry
        raise Finding(f"{step}: malformed message {msg!r}") from err
    if TYPE_NAME.search(msg):
        raise Finding(f"{step}: a type name for the problem: {msg!r}") from err
    if isinstance(err.__context__, MemoryError):
        raise Finding(f"{step}: ran out of memory instead of refusing: {msg}") from err


def seed_inputs(fmt: str) -> list[bytes]:
    """The containers the tests make: good ones, damaged ones, bombs."""
    import test_containers
    import test_pdf
    from hostile_containers import (cbz_with_an_unnamed_entry, ccitt_image, encoded_gray, image_declaring,
                                    one_image_pdf, pdf_whose_kids_loop, pdf_with_bits_a_name)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if fmt == "cbz":
            test_containers.make_src(root)
            cbz_with_an_unnamed_entry(root / "src" / "noname.cbz")
        else:
            test_pdf.make_src(root)
            pdf_whose_kids_loop(root / "src" / "loop.pdf")
            pdf_with_bits_a_name(root / "src" / "bits.pdf")
            jpx, jpeg = encoded_gray(48, "JPEG2000"), encoded_gray(48, "JPEG", progressive=True)
            for name, make in {"jpx": lambda pdf: image_declaring(pdf, jpx, "/JPXDecode", 48, 48),
                               "decode": lambda pdf: image_declaring(pdf, jpeg, "/DCTDecode", 48, 48, Decode=[1, 0]),
                               "fax": lambda pdf: ccitt_image(pdf, 64, 48)}.items():
                one_image_pdf(root / "src" / f"{name}.pdf", make)
        suffixes = (".cbz", ".zip") if fmt == "cbz" else (".pdf",)
        return [p.read_bytes() for p in sorted((root / "src").glob("*")) if p.suffix in suffixes]


def _one(data: bytes, tmp: Path, fmt: str, findings: Path | None, seen: set) -> None:
    try:
        check_bytes(data, tmp, fmt)
    except Exception as err:
        if findings is None:
            raise
        if isinstance(err, Finding) and err.__cause__ is not None:  # told apart by the step and the error's origin
            err.__traceback__ = err.__cause__.__traceback__
        keep(data, err, findings, seen)


def mutation_fuzz(fmt: str, runs: int, seed: int = 0, findings: Path | None = None) -> list[str]:
    """``runs`` mutated seeds through :func:`check_bytes` (no atheris needed); the distinct failures."""
    rng, pool, seen = random.Random(seed), seed_inputs(fmt), set()
    with tempfile.TemporaryDirectory() as tmp:
        for data in pool:
            _one(data, Path(tmp), fmt, findings, seen)
        for _ in range(runs):
            _one(mutate(rng.choice(pool), rng, pool), Path(tmp), fmt, findings, seen)
    return sorted(seen)


def main(argv: list[str]) -> None:
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    fmt = next((a.split("=", 1)[1] for a in argv if a.startswith("--format=")), "cbz")
    argv = [a for a in argv if not a.startswith("--format=")]
    findings = Path(os.environ["FUZZ_KEEP_GOING"]) if os.environ.get("FUZZ_KEEP_GOING") else None
    try:
        import atheris
    except ImportError:
        runs = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("-runs=")), 1000)
        print("\n".join(mutation_fuzz(fmt, runs, findings=findings)))
        return
    sys.modules.pop("zipfile", None)  # imported already (importlib.metadata): again, to be instrumented
    with atheris.instrument_imports(include=["mchmc", "zipfile", "pikepdf", "PIL"]):
        import zipfile  # noqa: F401  (imported here to be instrumented)
        import pikepdf  # noqa: F401
        import PIL.Image
        import mchmc.containers.pdf  # noqa: F401
        import mchmc.containers.zipvolume  # noqa: F401
        PIL.Image.init()
    corpus = next((Path(a) for a in argv[1:] if not a.startswith("-")), None)
    if corpus is not None and corpus.is_dir() and not any(corpus.iterdir()):
        for data in seed_inputs(fmt):
            (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
    tmp, seen = Path(tempfile.mkdtemp(prefix=f"mchmc-fuzz-{fmt}-")), set()
    atheris.Setup(argv, lambda data: _one(data, tmp, fmt, findings, seen))
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
