"""The pool of a batch run, composed from the options a caller gives (``--cpus``, ``--gpus``,
the network's device, ``--ray-address``): Ray started or joined, its resources worked out, and
either a :class:`~mchmc.batch.pool.pool.Pool` of whole-page workers or the split pipeline's
:class:`~mchmc.batch.pool.netpool.SplitPool` (network services, CPU codec workers).

Nothing starts here: :func:`pool_starter` returns the function the driver calls when the first
page needs work (:func:`mchmc.batch.driver.loop.run`), so a run with nothing to do starts no Ray.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from mchmc.batch.options import BatchOptions


def pool_starter(cpus: int | None, gpus: int = 0, ray_address: str | None = None, *, network: str | None = None,
                 visible: str | None = None,
                 on_connected: Callable[[bool], None] | None = None) -> Callable[[BatchOptions], object]:
    """A function that starts Ray and the worker actors for ``options`` (only called when a page needs work).

    ``cpus``: codec (or whole-page) workers, None on a cluster: every CPU it has; ``gpus``: GPUs, one network
    service each, or with ``network`` None whole-page GPU workers (``--cpus 0``); ``network``: where the
    network runs, None in each worker, ``"cuda"`` GPU services, ``"cpu"`` the CPU stand-in of the GPU path;
    ``visible``: CUDA_VISIBLE_DEVICES for a private local Ray that must see exactly the chosen devices;
    ``on_connected(local)``: called once Ray is up, ``local`` True when this process started it."""

    def start(options: BatchOptions):
        from mchmc.batch.pool import reaper
        from mchmc.batch.pool.pool import Pool, PoolSpec
        from mchmc.batch.pool.ray_local import connect
        from mchmc.batch.worker.pageworker import PageWorker

        reaper.start()  # every process from here on dies with this one
        n = cpus
        if visible and not ray_address:  # the private Ray sees exactly the chosen devices
            os.environ["CUDA_VISIBLE_DEVICES"] = visible
        stand_in = int(network == "cpu")
        whole_page_gpus = 0 if network else gpus  # --cpus 0: GPU workers that do whole pages, a core each
        resources = connect(ray_address, None if ray_address else cpus + stand_in + whole_page_gpus,
                            None if ray_address else gpus or None)
        if on_connected:
            on_connected(not ray_address)
        if n is None:  # joined a cluster: every CPU it has, less the CPU stand-in's
            n = max(0 if whole_page_gpus else 1, int(resources.get("CPU", 0)) - stand_in - whole_page_gpus)
        if network:  # the split pipeline (mchmc.batch.pool.netpool)
            from mchmc.batch.network.service import NetworkSpec
            from mchmc.batch.pool.netpool import SplitPool, SplitSpec

            split = SplitSpec(gpus or 1, NetworkSpec(device=network))
            return SplitPool(options, PoolSpec(cpus=n), split)
        return Pool(PageWorker, (options,), PoolSpec(cpus=n, gpus=whole_page_gpus))

    return start
