"""The actors a batch run's calls go to: the Ray pool, Ray started or joined, the split
pipeline's pool, the pool composed from the run's devices, and the reaper of Ray's processes."""
