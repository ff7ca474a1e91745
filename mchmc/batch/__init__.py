"""Batch runs over an archive. Here, what both sides of a run share: the options, the plan
(SRC -> DST, checked before any work), the per-page records, the ledger of finished outputs,
and the calls a worker takes (big pages' bands, a volume's pages). Beside it: the driver that
decides, feeds and commits every page (:mod:`~mchmc.batch.driver`), the worker each Ray actor
runs (:mod:`~mchmc.batch.worker`), the actor pool and Ray (:mod:`~mchmc.batch.pool`), the split
pipeline's network service (:mod:`~mchmc.batch.network`), and the report files
(:mod:`~mchmc.batch.report`)."""
