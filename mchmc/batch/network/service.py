"""The network service: one per device, it runs only the network, for many codec workers.

Why: the network is the cheap part of upscaling a page and the codecs are the work (issue
18). A GPU actor that also reads, decodes, converts and encodes its own pages runs at the
speed of its one core. So the CPU workers keep every codec step and send only Y strips
(:mod:`mchmc.batch.network.wire`, via :class:`mchmc.batch.network.proxy.NetworkProxy`); this service runs
the network on them and returns the SR strip and the GAP sums with each result.

Batching: every request is queued; one thread takes the first waiting request, keeps
gathering for ``linger`` seconds or until ``batch_tiles`` tiles are in, and runs them as one
batch. Backpressure: a codec worker waits for its reply before it sends its next strip, so at
most one request per codec worker is ever queued here (the queue, and the memory it holds, is
bounded by the number of workers times one strip); :meth:`stats` reports the deepest queue seen.

How a batch runs (:func:`run_batch`):

- unstacked (the default on CPU): each request through :meth:`Engine.run` in turn, the very
  arithmetic of the single-worker path, so outputs are byte-identical to it;
- stacked (the default on CUDA): the tiles of all requests, grouped by window shape, go through
  the network ``batch_tiles`` at a time. Windows are gathered on the host from the packed codes
  (8/16-bit where exact) into a pinned buffer, moved in one non-blocking copy, turned into Y by
  a table gather on the device (exact), and the SR tiles come back through a pinned buffer.
  Different batch shapes may round differently in the last float bit, so stacked results equal
  the unstacked ones to float tolerance (tested on CPU: |diff| < 1e-5), not bit for bit.

"""
from __future__ import annotations

import os
import queue
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from mchmc.batch.network.wire import TileReply, TileRequest, lut
from mchmc.batch.options import BatchOptions
from mchmc.errors import MchmcError

@dataclass(frozen=True)
class NetworkSpec:
    """How a network service runs."""

    device: str = "cpu"  # "cpu" (the stand-in) or "cuda" (the device Ray gave the actor)
    batch_tiles: int = 64  # most tiles in one batch
    linger: float = 0.002  # s a batch waits for more requests once its first is in
    stack: bool | None = None  # equal-shape tiles in one forward pass; None: on CUDA only (see module doc)
    tile: int | None = None  # engine tile core, LR px; None: the run's --tile
    reply_timeout: float = 60.0  # s without a reply before a caller checks the service is alive (netproxy.RayLink)


class NetworkService:
    """One per device (a Ray actor, or an object in this process for benchmarks)."""

    def __init__(self, options: BatchOptions, spec: NetworkSpec, *, name: str = "net0"):
        self.options, self.spec, self.name = options, spec, name
        self.stack = spec.stack if spec.stack is not None else spec.device.startswith("cuda")
        self.engines: dict = {}
        self.counts = {"requests": 0, "tiles": 0, "batches": 0, "max_batch": 0, "max_waiting": 0,
                       "stacked": 0, "u8": 0, "u16": 0, "f32": 0}
        self.queue: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.staging = Staging(pinned=spec.device.startswith("cuda"))
        # fp32 on CUDA means fp32 (no TF32): the Engine it builds sets that for the process
        self.start_error: MchmcError | None = None
        try:
            self._engine(options.model)
        except MchmcError as err:
            self.start_error = err
            return
        threading.Thread(target=self._serve, name=f"{name}-batches", daemon=True).start()

    @property
    def tag(self) -> str:
        return f"{self.name}@{os.getpid()}"

    def ready(self) -> str:
        if self.start_error is not None:
            raise self.start_error
        return self.tag

    def stats(self) -> dict:
        """What this process has served: requests, tiles, batches, the largest batch (requests)
        and the deepest queue seen, per wire kind; and its tag (a restarted service has a new pid)."""
        with self.lock:
            return dict(self.counts, tag=self.tag)

    def infer(self, request: TileRequest) -> TileReply:
        """One codec worker's strip: queued, run in the next batch, its reply returned."""
        done: Future = Future()
        with self.lock:
            self.counts["requests"] += 1
            self.counts[request.packed.kind] += 1
            self.queue.put((request, done))
            self.counts["max_waiting"] = max(self.counts["max_waiting"], self.queue.qsize())
        return done.result()

    def _engine(self, model: str | None):
        """The engine of ``model`` (a noise variant is loaded on its first request), warmed up."""
        if model not in self.engines:
            from mchmc.engine import Engine
            from mchmc.modelfile import load_model

            net = load_model(model).model
            engine = Engine(net, tile=self.spec.tile or self.options.tile, device=self.spec.device,
                            precision=self.options.precision, tta=self.options.tta)
            engine.run(np.zeros((24, 24), np.float32), gap=net.config.has_classifier)
            self.engines[model] = engine
        return self.engines[model]

    def _serve(self) -> None:
        while True:
            batch = [self.queue.get()]
            tiles = _tiles_of(batch[0][0], self.spec.tile or self.options.tile)
            until = time.monotonic() + self.spec.linger
            while tiles < self.spec.batch_tiles:
                try:
                    item = self.queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                batch.append(item)
                tiles += _tiles_of(item[0], self.spec.tile or self.options.tile)
            try:
                self._run(batch)
            except BaseException as err:  # never leave a caller waiting on a batch that broke
                for _, done in batch:
                    if not done.done():
                        done.set_exception(err)

    def _run(self, batch: list) -> None:
        by_model = defaultdict(list)
        for request, done in batch:
            by_model[request.model].append((request, done))
        for model, items in by_model.items():
            try:
                replies = run_batch(self._engine(model), [r for r, _ in items], stack=self.stack,
                                    max_tiles=self.spec.batch_tiles, server=self.tag, staging=self.staging)
            except Exception as err:  # every request of the group gets the reason; the service goes on
                for _, done in items:
                    done.set_exception(err)
                continue
            for (_, done), reply in zip(items, replies):
                done.set_result(reply)
        with self.lock:
            self.counts["batches"] += 1
            self.counts["max_batch"] = max(self.counts["max_batch"], len(batch))
            self.counts["tiles"] += sum(_tiles_of(r, self.spec.tile or self.options.tile) for r, _ in batch)
            self.counts["stacked"] += int(self.stack)


def _tiles_of(request: TileRequest, tile: int | None) -> int:
    from mchmc.engine import Region, tiles

    return len(tiles(Region(*request.region), tile))


class Staging:
    """Reusable host buffers for stacked batches: pinned on CUDA (page-locked memory is what
    lets a copy to or from the device run asynchronously at full bus speed), plain on CPU."""

    def __init__(self, pinned: bool):
        self.pinned, self.buffers = pinned, {}

    def take(self, shape: tuple, dtype, role: str):
        import torch

        key = (role, shape, dtype)
        if key not in self.buffers:
            if len(self.buffers) > 32:  # many shapes seen: start over rather than grow without bound
                self.buffers = {k: v for k, v in self.buffers.items() if k[0] == "lut"}
            self.buffers[key] = torch.empty(shape, dtype=dtype, pin_memory=self.pinned)
        return self.buffers[key]

    def table(self, kind: str, device):
        """The code -> Y table of ``kind`` on ``device`` (sent once, not with every batch)."""
        import torch

        key = ("lut", kind, str(device))
        if key not in self.buffers:
            self.buffers[key] = torch.from_numpy(lut(kind)).to(device)
        return self.buffers[key]


def run_batch(engine, requests: list[TileRequest], *, stack: bool, max_tiles: int, server: str,
              staging: Staging | None = None) -> list[TileReply]:
    """Each request's SR output and GAP sums (see the module docstring for the two ways)."""
    from mchmc.engine import Region, tiles

    if not stack or engine.tta:  # TTA transforms each window on its own: per request
        replies = []
        for r in requests:
            res = engine.run(r.packed.plane(), Region(*r.region), sr=r.sr, gap=r.gap)
            replies.append(TileReply(res.sr, res.gap, len(tiles(Region(*r.region), engine.tile)), server))
        return replies
    return _stacked(engine, requests, max_tiles, server, staging or Staging(pinned=False))


def _stacked(engine, requests: list[TileRequest], max_tiles: int, server: str, staging: Staging):
    import torch

    from mchmc.engine import GapStats, Region, add_tile_gap, pool_interval, tiles, window

    cfg = engine.config
    s, halo, fh = cfg.scale, cfg.halo, cfg.feature_halo
    outs, stats, groups, counts = [], [], defaultdict(list), []
    for j, r in enumerate(requests):
        region = Region(*r.region)
        outs.append(np.empty((s * region.shape[0], s * region.shape[1]), np.float32) if r.sr else None)
        stats.append(GapStats(np.zeros(cfg.channels[1], np.float64), 0) if r.gap else None)
        cores = tiles(region, engine.tile)
        counts.append(len(cores))
        for t in cores:
            groups[(t.y1 - t.y0, t.x1 - t.x0, r.packed.kind, r.sr)].append((j, t))
    dev = engine.device
    with torch.inference_mode():
        for (th, tw, kind, sr), items in groups.items():
            hin, ring = (halo, halo - fh) if sr else (fh, 0)
            wire = {"u8": torch.uint8, "u16": torch.int16, "f32": torch.float32}[kind]
            for c0 in range(0, len(items), max_tiles):
                chunk = items[c0 : c0 + max_tiles]
                host = staging.take((len(chunk), 1, th + 2 * hin, tw + 2 * hin), wire, "in")
                view = host.numpy().view(np.uint16) if kind == "u16" else host.numpy()
                for k, (j, t) in enumerate(chunk):
                    view[k, 0] = window(requests[j].packed.data, t, hin)
                x = host.to(dev, non_blocking=True)
                if kind != "f32":  # codes -> Y by a gather of the very float32 values: exact
                    idx = x.long() & 0xFFFF if kind == "u16" else x.long()
                    x = staging.table(kind, dev)[idx]
                f2 = engine._features(x.contiguous(memory_format=torch.channels_last))
                for k, (j, t) in enumerate(chunk):
                    if stats[j] is not None:
                        h, w = requests[j].packed.shape
                        add_tile_gap(stats[j], f2[k], t, pool_interval(h, fh), pool_interval(w, fh), ring)
                if not sr:
                    continue
                y = engine.model.reconstruct(f2)[:, 0].float()
                back = staging.take(tuple(y.shape), torch.float32, "out")
                back.copy_(y, non_blocking=True)
                if dev.type == "cuda":
                    torch.cuda.current_stream(dev).synchronize()
                ys = back.numpy()
                for k, (j, t) in enumerate(chunk):
                    r0 = Region(*requests[j].region)
                    oy, ox = s * (t.y0 - r0.y0), s * (t.x0 - r0.x0)
                    outs[j][oy : oy + s * th, ox : ox + s * tw] = ys[k]
    return [TileReply(outs[j], stats[j], counts[j], server) for j in range(len(requests))]
