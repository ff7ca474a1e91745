"""``mchmc info``: what the networks are, which models and tiers are installed, the chroma network."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def show(model: str | None = None) -> int:
    from mchmc.errors import MchmcError
    from mchmc.model import ARCHITECTURES, MCH
    from mchmc.modelconfig import TAIL_KERNEL
    from mchmc.modelfile import load_model, shipped_models

    con = Console(soft_wrap=True, highlight=False)
    table = Table("architecture", "SR params", "head params", "total", "halo", "scale", title="Architectures (halo in LR px)")
    layers = []
    for name, cfg in ARCHITECTURES.items():
        net = MCH(cfg)
        (n1, n2), (f1, f2, f3) = cfg.channels, cfg.kernels
        tail = "".join(f"tail {TAIL_KERNEL}x{TAIL_KERNEL}->{n}, ReLU; " for n in cfg.tail)
        text = (f"conv1 {f1}x{f1}->{n1}, ReLU; conv2 {f2}x{f2}->{n2}, ReLU; {tail}conv3 {f3}x{f3}->{cfg.scale ** 2}; "
                f"pixel shuffle ({cfg.macs_per_lr_pixel:,} multiply-adds per LR pixel)")
        if cfg.has_classifier:
            text += f"; head on F2: GAP -> FC {cfg.hidden} -> ReLU -> FC {len(cfg.categories)} ({', '.join(cfg.categories)})"
        layers.append(f"  {name}: {text}")
        table.add_row(name, f"{net.num_parameters('sr'):,}", f"{net.num_parameters('head'):,}",
                      f"{net.num_parameters():,}", str(cfg.halo), f"{cfg.scale}x")
    con.print(table)
    con.print("Layers (no padding):\n" + "\n".join(layers))
    shipped = shipped_models()
    con.print("Shipped models: " + (", ".join(shipped) if shipped else "none"))
    show_tiers(con)
    if model:
        try:
            mf = load_model(model)
        except MchmcError as err:
            Console(stderr=True, soft_wrap=True, highlight=False).print(f"error: {err}")
            return 1
        con.print(f"{mf.path}: {mf.config.arch}, {mf.model.num_parameters():,} parameters")
        for key, value in mf.provenance.items():
            con.print(f"  {key}: {value}")
    return 0


def show_tiers(con: Console) -> None:
    """The tiers (``--model fast`` / ``quality``, :mod:`mchmc.tiers`), their validation PSNR, the chroma network."""
    from mchmc.tierchoice import facts
    from mchmc.tiers import FAST, TIERS, UPCONV7_MACS

    table = Table("tier", "model file", "architecture", "MACs/LR px", "x upconv7", "x fast", "noise levels",
                  title="Tiers (--model fast | quality)")
    for column in table.columns:  # a narrow terminal folds a name or a number onto the next line, never cuts it
        column.overflow = "fold"
    found = [facts(t) for t in TIERS.values()]
    fast_macs = next(f.macs for f in found if f.tier is FAST)
    for f in found:
        table.add_row(f.tier.name, f.path.name if f.path else "not installed", f.arch, f"{f.macs:,}",
                      f"{f.macs / UPCONV7_MACS:.2f}", f"{f.macs / fast_macs:.1f}",
                      ", ".join(map(str, f.noise)) or "none")
    con.print(table)
    con.print("\n".join(f"  {f.tier.name}: {f.tier.description}; specialists: {f.specialist_words}" for f in found))
    rows = [(f.tier.name, name, psnr) for f in found for name, psnr in f.validation.items()]
    keys = list(dict.fromkeys(k for _, _, psnr in rows for k in psnr))
    if rows:
        # 80 columns hold the longest file name and every figure: no tier column (the name says it), no edge
        val = Table("model file", *(k.replace("text_rendered", "rendered") for k in keys), show_edge=False,
                    title="Validation PSNR-Y (dB) from each file's provenance "
                    "(a noise level's on its own JPEG level's inputs)")
        for column in val.columns:
            column.overflow = "fold"
        for _, name, psnr in rows:
            val.add_row(name, *(f"{psnr[k]:.2f}" if k in psnr else "-" for k in keys))
        con.print(val)
    con.print(chroma_lines(found, fast_macs, UPCONV7_MACS))


def chroma_lines(found, fast_macs: int, upconv7_macs: int) -> str:
    """One line per chroma network the installed tiers use (:func:`mchmc.chroma.chroma_file`: a tier's own,
    else the shipped one), with the tiers that use it."""
    from mchmc.chroma import SHIPPED, chroma_file

    users: dict = {}
    for f in found:
        users.setdefault(chroma_file(f.path) if f.path else SHIPPED, []).append(f.tier.name)
    return "\n".join(chroma_line(path, tiers, fast_macs, upconv7_macs) for path, tiers in users.items())


def chroma_line(path, tiers: list[str], fast_macs: int, upconv7_macs: int) -> str:
    from mchmc.chroma import load_chroma
    from mchmc.errors import MchmcError

    where = f"{path.parent.name}/{path.name}"
    if not path.is_file():
        return f"Chroma network: {where} not installed (colour pages keep the bicubic chroma)"
    try:
        net = load_chroma(path)
    except MchmcError as err:
        return f"Chroma network: {err}"
    c, macs = net.config, net.config.macs_per_lr_pixel
    params = sum(p.numel() for p in net.parameters())
    return (f"Chroma network: {where}, {c.layers} unpadded 3x3 conv layers, {c.channels} channels, {params:,} "
            f"parameters, {macs:,} multiply-adds per LR pixel ({macs / upconv7_macs:.2f}x upconv7, "
            f"{macs / fast_macs:.2f}x the fast tier); on colour pages upscaled at a JPEG noise level, with "
            f"the {' and '.join(tiers)} tier{'s' if len(tiers) > 1 else ''} (--no-chroma: off)")
