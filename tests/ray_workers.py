"""Small workers for the pool tests (importable by Ray worker processes)."""
import os
from pathlib import Path


class EchoWorker:
    """Reports where it runs; optionally dies once on a marked item."""

    def __init__(self, crash_dir=None, *, device="cpu", name="w"):
        self.crash_dir, self.device, self.name = crash_dir, device, name

    def ready(self):
        return self.name

    def work(self, item):
        import ray

        if self.crash_dir and item == "crash-once":
            marker = Path(self.crash_dir) / "crashed"
            if not marker.exists():
                marker.write_text("1")
                os._exit(1)  # the process dies mid-call, as an OOM kill would
        if item == "raise":
            raise RuntimeError("bad item")
        gpus = ray.get_runtime_context().get_accelerator_ids().get("GPU", [])
        return {"item": item, "pid": os.getpid(), "device": self.device, "name": self.name, "gpus": gpus}
