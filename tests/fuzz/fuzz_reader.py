"""Coverage-guided fuzz of the page reader (issue 15: never lose a page).

Why: a batch worker must turn *any* bytes into pixels or into one typed
:class:`~mchmc.errors.PageError` naming the file, so one bad page in an archive
costs that page and not the run. This harness feeds arbitrary bytes, through a
temporary file, to the public reader (:func:`mchmc.pages.page_sizes`, then
every page of :func:`mchmc.pages.read_pages`) with small limits, and fails on

- any exception that is not a ``PageError`` (a codec's ``OSError``,
  ``struct.error``, ``IndexError`` ... escaping: the finding to fix in the reader);
- a ``PageError`` whose message is not one line starting with the file's name;
- a ``PageError`` raised while handling a ``MemoryError``: the limits
  (``max_pixels``, ``max_bytes``, density) must refuse *before* allocating.

Run it (atheris, one process, 10 minutes; an empty corpus folder is seeded
with the test fixtures, samples/ and tests/hostile/; new inputs go to the first
folder only)::

    cd /work/main && source scripts/env.sh && pip install atheris && mkdir -p out/fuzz/corpus
    FUZZ_KEEP_GOING=out/fuzz/findings python tests/fuzz/fuzz_reader.py out/fuzz/corpus tests/hostile \\
        -max_total_time=600 -timeout=30 -rss_limit_mb=4096 -max_len=65536 -artifact_prefix=out/fuzz/

``FUZZ_KEEP_GOING=out/fuzz/findings`` records each distinct failure (exception
type + where it was raised: the input and its traceback) and goes on instead of
stopping at the first. Replay inputs: ``python tests/fuzz/fuzz_reader.py FILE...``.
Without atheris the same command runs :func:`mutation_fuzz` (pure Python, no
coverage feedback) for ``-runs=N`` inputs; the test suite runs 200 of those
(tests/test_hostile_pages.py) so the harness stays runnable.

What it found is kept under tests/hostile/fuzz-*: TIFF header fields tifffile
hands over as tuples, bytes or unnamed numbers; resolution tags with a zero
denominator or text; a palette page without a ColorMap; tiles claiming 654
million rows and a strip claiming 1 TB (MemoryError: now refused from the
header); decoded shapes contradicting the header; byte-order-confused TIFF
signatures that Pillow accepts.
"""
from __future__ import annotations

import hashlib
import logging
import os
import random
import sys
import tempfile
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HOSTILE = ROOT / "tests" / "hostile"
SAMPLES = ROOT / "samples"

# Small limits: decoding stays fast, and every refusal path is reached. The
# budget lets any page of up to 1 MP through (RGBA, 16-bit), gray pages of up
# to ~3 MP; a budget under the estimate's fixed part would refuse every page
# and leave the decoders unfuzzed.
MAX_PIXELS = 4_000_000
MAX_BYTES = 1024 * 1024 * (4 * 2 * 10 + 8) + (512 << 20)  # pagelimits.page_memory_bytes(1024, 1024, 4, 2)


def _reader():
    from mchmc import pages as pageio
    from mchmc.errors import PageError, shown
    return pageio, PageError, shown


class Finding(Exception):
    """The reader broke its contract on one input."""


def check_bytes(data: bytes, workdir: Path) -> int:
    """Run the reader over ``data``; raise :class:`Finding` (or the escaped
    exception itself) when the contract above is broken. Returns how many
    pages were decoded (a harness whose limits refuse everything fuzzes nothing)."""
    pageio, PageError, shown = _reader()
    path = workdir / "page.img"  # the reader sniffs the bytes; the name does not matter
    path.write_bytes(data)
    decoded = 0
    for step in ("page_sizes", "read_pages"):
        try:
            if step == "page_sizes":
                pageio.page_sizes(path, MAX_PIXELS, max_bytes=MAX_BYTES, check_density=True)
            else:
                for page in pageio.read_pages(path, MAX_PIXELS, max_bytes=MAX_BYTES):
                    assert page.pixels.shape[:2] == (page.meta.height, page.meta.width)
                    decoded += 1
        except PageError as err:
            msg = str(err)
            if "\n" in msg or not msg.startswith(f"{shown(path)}: ") or err.path != str(path):
                raise Finding(f"{step}: malformed message {msg!r}") from err
            if isinstance(err.__context__, MemoryError):
                raise Finding(f"{step}: ran out of memory instead of refusing: {msg}") from err
    return decoded


def signature(err: BaseException) -> str:
    """Exception type + the innermost frame in mchmc (else the innermost frame):
    inputs with the same signature are the same finding."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "/mchmc/" in f.filename] or frames[-1:]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(err).__name__}@{where}"


def keep(data: bytes, err: BaseException, findings: Path, seen: set) -> None:
    sig = signature(err)
    if sig in seen:
        return
    seen.add(sig)
    findings.mkdir(parents=True, exist_ok=True)
    stem = f"{sig.replace('@', '-').replace(':', '-')}-{hashlib.sha1(data).hexdigest()[:8]}"
    (findings / f"{stem}.bin").write_bytes(data)
    (findings / f"{stem}.txt").write_text("".join(traceback.format_exception(err)))
    print(f"FINDING {sig}: {type(err).__name__}: {str(err)[:200]}", file=sys.stderr, flush=True)


def valid_pages() -> list[bytes]:
    """Valid pages of every kind the reader handles (tests/pages.py FIXTURES) and the sample pages."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from pages import FIXTURES

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for fx in FIXTURES:
            p = Path(tmp) / fx.name
            fx.make(p)
            out.append(p.read_bytes())
    return out + [p.read_bytes() for p in sorted(SAMPLES.glob("*")) if p.is_file()]


def seed_inputs() -> list[bytes]:
    """The valid pages and the hostile regression files."""
    return valid_pages() + [p.read_bytes() for p in sorted(HOSTILE.glob("*")) if p.is_file() and p.suffix != ".py"]


# ---------------------------------------------------------------- pure-Python mutation fuzzer
_INTERESTING = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00", b"\xff\xff", b"\x7f\xff", b"\x00\x01",
                b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00", b"\x80\x00\x00\x00")


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """A few random edits: bit flips, interesting integers, byte runs cut or
    repeated, truncation, a splice with another input (AFL's havoc, in small)."""
    b = bytearray(data or b"\0")
    for _ in range(rng.randint(1, 4)):
        op, i = rng.randrange(7), rng.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            v = rng.choice(_INTERESTING)
            b[i:i + len(v)] = v
        elif op == 2:
            b[i] = rng.randrange(256)
        elif op == 3 and len(b) > 2:
            del b[i:i + rng.randint(1, min(64, len(b) - 1))]
        elif op == 4:
            b[i:i] = b[i:i + rng.randint(1, 64)] * rng.randint(1, 4)
        elif op == 5:
            del b[max(1, i):]
        else:
            other = rng.choice(pool)
            j = rng.randrange(len(other) or 1)
            b[i:] = other[j:]
    return bytes(b[: 1 << 17])


def mutation_fuzz(runs: int, seed: int = 0, findings: Path | None = None) -> list[str]:
    """``runs`` mutated seed inputs through :func:`check_bytes`; returns the
    distinct failure signatures (raises on the first when ``findings`` is None)."""
    rng, pool, seen = random.Random(seed), seed_inputs(), set()
    with tempfile.TemporaryDirectory() as tmp:
        for data in pool:  # the seeds themselves first: they must all pass
            _one(data, Path(tmp), findings, seen)
        for _ in range(runs):
            _one(mutate(rng.choice(pool), rng, pool), Path(tmp), findings, seen)
    return sorted(seen)


def _one(data: bytes, tmp: Path, findings: Path | None, seen: set) -> None:
    try:
        check_bytes(data, tmp)
    except Exception as err:
        if findings is None:
            raise
        keep(data, err, findings, seen)


# ---------------------------------------------------------------- entry point
def main(argv: list[str]) -> None:
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)  # corrupt tags are logged, not raised
    findings = Path(os.environ["FUZZ_KEEP_GOING"]) if os.environ.get("FUZZ_KEEP_GOING") else None
    seen: set = set()
    try:
        import atheris
    except ImportError:
        atheris = None
    if atheris is None:
        runs = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("-runs=")), 10_000)
        print("\n".join(mutation_fuzz(runs, findings=findings or ROOT / "out" / "fuzz" / "findings")))
        return
    with atheris.instrument_imports(include=["mchmc", "PIL", "tifffile"]):
        import PIL.Image
        import tifffile  # noqa: F401  (imported here to be instrumented)
        import mchmc.pages  # noqa: F401
        PIL.Image.init()  # Pillow imports its format plugins lazily: here, so they are instrumented
    corpus = next((Path(a) for a in argv[1:] if not a.startswith("-")), None)
    if corpus is not None and corpus.is_dir() and not any(corpus.iterdir()):
        for data in seed_inputs():
            (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
    tmp = Path(tempfile.mkdtemp(prefix="mchmc-fuzz-"))

    def one_input(data: bytes) -> None:
        _one(data, tmp, findings, seen)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
