"""The driver's side of a batch run: the run prepared (plan, DST, report path checked), each
job decided, the pool fed, every page and volume committed to the ledger and the report."""
