"""``mchmc info``: what the networks are and which models are installed."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def show(model: str | None = None) -> int:
    from mchmc.errors import MchmcError
    from mchmc.model import ARCHITECTURES, MCH
    from mchmc.modelconfig import TAIL_KERNEL
    from mchmc.modelfile import load_model, shipped_models

    con = Console(soft_wrap=True, highlight=False)
    table = Table("architecture", "SR params", "head params", "total", "halo (LR px)", "scale", title="Architectures")
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
