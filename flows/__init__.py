"""Prefect flows over the mchmc library (installed as ``mchmc.flows``).

- ``mchmc.flows.prep.prep_flow``   : build / find the patch store, report counts and alpha.
- ``mchmc.flows.train.train_flow`` : prep -> Phase 1 -> Phase 2 (SRforMC) or the MCH phase, one fold.
- ``mchmc.flows.upscale.upscale_flow`` : plan pages -> shards through a Ray actor pool -> report + summary.
- ``mchmc.flows.experiment.experiment_flow`` : the K-fold grid, each (method, fold) cell trained by
  ``train_flow`` as a subflow and scored, skipped when current; then the report (``report_flow``).

Flows hold no logic: every task calls one function of ``mchmc`` (tested
directly). They run on Prefect's local ephemeral API unless PREFECT_API_URL
points at a server.
"""
