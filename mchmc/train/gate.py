"""``train.never_worse``: a fine-tune that is never worse than its start on any category (issue 29).

    if head_only(run, name): ...                      # Phase 1 trains the head alone, the upscaler frozen
    model, record = never_worse(run, model)           # at the end of the last phase: which upscaler is kept

Why: fine-tuning the shipped upscaler on an archive moves every category with
one MSE, so the categories with the most pixels pull it their way and another
category can come out a little worse than it went in. The start's upscaler is
a model the user already has; the fine-tune should only ever add to it.

How: with ``train.init_from`` set and ``train.never_worse`` on, an MCH-MC run's
Phase 1 trains the new head alone on the start's frozen features (the
upscaler's weights are not touched: Phase 1's model *is* the start's upscaler
with a head for the archive's categories), and Phase 2 fine-tunes everything.
At the end of the last phase the trained model and the *anchor* (Phase 1's
model; for a one-phase plain MCH run, the start itself) are scored on every
validation page of the run, whole (carved out of the training folds, never
trained on, degraded as training is). If the trained upscaler's PSNR-Y is below
the anchor's on any category, the run's model is the anchor: the start's
upscaler with the head trained on its features (only consistent because that
head never saw other features). The test fold is never read here. The decision
and both models' figures per category go into the stage's summary and the model
file's provenance (``gate``).
"""
from __future__ import annotations

from mchmc.model import MCH
from mchmc.train.validate import Validator

ALL_IMAGES = 1 << 30  # every validation page


def applies(run) -> bool:
    """Whether the run is gated: ``train.never_worse`` on a fine-tune (``train.init_from``)."""
    return bool(run.cfg.train.never_worse and run.cfg.train.init_from)


def head_only(run, name: str) -> bool:
    """Whether phase ``name`` trains the head alone: the first of two phases of a gated run."""
    return applies(run) and len(run.phase_names) > 1 and name == run.phase_names[0]


def anchor(run) -> MCH:
    """The model whose upscaler is the start's: the head-only phase's model, else the start's weights."""
    from mchmc.modelfile import load_model
    from mchmc.train.start import start_weights

    if len(run.phase_names) > 1:
        return load_model(run.phase_model_path(run.phase_names[0])).model
    model = run.build()
    start_weights(run, model, 0)
    return model.eval()


def gate_validator(run, scale: int) -> Validator:
    """Every validation page of the run, whole, degraded as the training pages are."""
    return Validator(run.split.val, ALL_IMAGES, 0, scale, run.cfg.data.noise)


def compare(trained: MCH, start: MCH, validator: Validator) -> dict:
    """Both models on the same pages: per category PSNR-Y, the categories where ``trained`` is worse, and which
    is kept (``trained`` only if it is at least as good on every category)."""
    t, s = validator.evaluate(trained), validator.evaluate(start)
    cats = [c for c in validator.categories if f"psnr_{c}" in t]
    worse = [c for c in cats if t[f"psnr_{c}"] < s[f"psnr_{c}"]]
    return {"kept": "start" if worse else "trained", "worse": worse,
            "gain": {c: t[f"psnr_{c}"] - s[f"psnr_{c}"] for c in cats}, "trained": t, "start": s,
            "images": {c: sum(1 for v in validator.images if v.group == c) for c in cats},
            "pages": "validation pages (carved out of the training folds), whole"}


def never_worse(run, trained: MCH) -> tuple[MCH, dict]:
    """The run's final model (``trained``, or the anchor when ``trained`` is worse on a category) and the record
    of the decision."""
    start = anchor(run)
    record = compare(trained, start, gate_validator(run, trained.config.scale))
    record["anchor"] = run.phase_names[0] if len(run.phase_names) > 1 else "start"
    return (start if record["kept"] == "start" else trained), record


def words(record: dict) -> str:
    """The decision in one line (the CLI prints it)."""
    gains = ", ".join(f"{c} {g:+.3f}" for c, g in record["gain"].items())
    n = sum(record["images"].values())
    if record["kept"] == "start":
        return (f"never-worse gate: kept the start's upscaler with the new head ({record['anchor']}'s model): the "
                f"fine-tuned one is worse on {', '.join(record['worse'])} ({gains} dB on {n} validation pages)")
    return f"never-worse gate: kept the fine-tuned upscaler, at least as good on every category ({gains} dB on {n} " \
           "validation pages)"
