"""The split pipeline on Ray: network services (one per GPU, or one CPU stand-in) and a
:class:`~mchmc.batch.pool.pool.Pool` of CPU codec workers that send them their Y strips.

Sizing (why): a codec worker gets one core, because the codecs are the work; a GPU service
asks Ray for no CPU, because its thread mostly waits on the device and its host work (gathering
8-bit windows into a pinned buffer) is small beside a codec worker's. The CPU stand-in
(``--network-device cpu`` / ``MCHMC_NETWORK_DEVICE=cpu``, for CI and for checking this path
without a GPU) computes the network itself, so it takes a core like any worker.

The services are Ray threaded actors (``max_concurrency``: one slot per codec worker plus a
few for ``ready``/``stats``), so every worker's request can wait in the service's batch queue
at once; they are restarted by Ray when their process dies (their callers resend,
:class:`~mchmc.batch.network.proxy.RayLink`).
"""
from __future__ import annotations

from dataclasses import dataclass

from mchmc.batch.network.service import NetworkService, NetworkSpec
from mchmc.batch.options import BatchOptions
from mchmc.batch.pool.pool import Pool, PoolError, PoolSpec, started

DEVICE_ENV = "MCHMC_NETWORK_DEVICE"  # "cpu": the CPU stand-in of the GPU path (as --network-device cpu)


@dataclass(frozen=True)
class SplitSpec:
    """``services`` network services on ``net.device`` (one per GPU on CUDA)."""

    services: int
    net: NetworkSpec

    def cpus_needed(self) -> int:
        return 0 if self.net.device.startswith("cuda") else self.services


def start_services(options: BatchOptions, split: SplitSpec, workers: int) -> tuple[list, list[str]]:
    """The service actors and their Ray names (unique to this pool: the codec workers look them up)."""
    import secrets

    import ray

    gpu = split.net.device.startswith("cuda")
    names = [f"mchmc-net{i}-{secrets.token_hex(4)}" for i in range(split.services)]
    services = [ray.remote(NetworkService).options(
        name=names[i], num_cpus=0 if gpu else 1, num_gpus=1 if gpu else 0, max_restarts=-1, max_task_retries=0,
        max_concurrency=workers + 4).remote(options, split.net, name=f"net{i}") for i in range(split.services)]
    return services, names


class SplitPool(Pool):
    """A :class:`Pool` of ``PageWorker`` codec workers, each linked to the network services."""

    def __init__(self, options: BatchOptions, spec: PoolSpec, split: SplitSpec, wait: bool = True):
        import ray

        from mchmc.batch.network.proxy import RayLink
        from mchmc.batch.worker.pageworker import PageWorker

        if spec.gpus:
            raise PoolError("the split pipeline runs its GPUs as network services, not as page workers")
        if spec.cpus < 1:
            raise PoolError("the network services only run the network: give --cpus >= 1 for the codec workers")
        have = ray.cluster_resources()
        if split.net.device.startswith("cuda") and split.services > have.get("GPU", 0.0):
            raise PoolError(f"{split.services} GPU network service(s) requested but Ray sees "
                            f"{have.get('GPU', 0.0):g} GPU(s)")
        if spec.cpus + split.cpus_needed() > have.get("CPU", 0.0):
            raise PoolError(f"{spec.cpus} codec worker(s) + {split.cpus_needed()} CPU network service(s) need "
                            f"more than the {have.get('CPU', 0.0):g} CPU(s) Ray sees; lower --cpus")
        self.services, names = start_services(options, split, spec.cpus)
        self._service_refs = [s.ready.remote() for s in self.services]
        super().__init__(PageWorker, (options, RayLink(names, timeout=split.net.reply_timeout)), spec, wait=wait)

    def wait_ready(self) -> list[str]:
        if not self.names and self._service_refs:
            self.service_names = started(self._service_refs, self.spec.start_timeout, self.shutdown,
                                         "network service", "no free GPU/CPU for them?")
            self._service_refs = []
        return super().wait_ready()

    def stats(self) -> list[dict]:
        import ray

        return ray.get([s.stats.remote() for s in self.services], timeout=60)

    def shutdown(self) -> None:
        import ray

        super().shutdown()
        for s in self.services:
            ray.kill(s, no_restart=True)
        self.services = []
