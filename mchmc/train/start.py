"""A phase's starting weights: the previous phase's model, or for the first phase ``train.init_from``
(the same design loaded, another head's weights transferred, or a narrower model widened) or a fresh
init. Apart from :mod:`mchmc.train.run` because the never-worse gate (:mod:`mchmc.train.gate`) builds
the start again to compare against it."""
from __future__ import annotations

from mchmc.modelfile import load_model
from mchmc.train.config_schema import ConfigError
from mchmc.train.steps import init_model


def start_weights(run, model, idx: int) -> None:
    """Load the starting weights of phase ``idx`` of ``run`` into ``model``. ``run`` is a
    :class:`mchmc.train.run.Run`, untyped here because run.py imports this module."""
    cfg = run.cfg
    if idx > 0:
        model.load_state_dict(load_model(run.phase_model_path(run.phase_names[idx - 1])).model.state_dict())
        return
    if not cfg.train.init_from:
        init_model(model, cfg.train)
        return
    start = load_model(cfg.train.init_from).model
    from mchmc.train.transfer import transfer, transfers

    if start.config == model.config:
        model.load_state_dict(start.state_dict())
    elif transfers(start, model):  # other categories, or a head added or dropped (issue 29, item 4)
        init_model(model, cfg.train)  # the new head's start; what transfers then comes from the model
        transfer(start, model)
    else:  # a narrower model of the same design, widened without changing what it computes
        from mchmc.train.widen import widen

        try:
            widen(start, model, seed=cfg.train.seed, noise=1e-3)
        except ValueError as err:
            raise ConfigError(f"train.init_from: {cfg.train.init_from}: {err}") from None
