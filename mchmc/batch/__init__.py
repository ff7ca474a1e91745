"""Batch runs over an archive: the plan (SRC -> DST, checked before any work),
the worker each Ray actor runs, the driver that feeds it and commits every page,
the actor pool, the per-page records, the ledger of finished outputs, and the
reaper that takes every helper process down with the driver."""
