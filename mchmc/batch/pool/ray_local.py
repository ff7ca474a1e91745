"""The Ray a batch run uses: a private local one, or a cluster the user runs.

A local Ray is started on loopback only and with a fresh auth token per run
(Ray runs whatever code it is sent: the ShadowRay lesson), so nothing listens
on a routable address and no other local process can join; a stray
``RAY_ADDRESS`` or a stale ``ray_current_cluster`` file is never followed.
Joining ``--ray-address`` uses the cluster's own auth settings.
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Any

# Read by Ray at import time: on Linux it makes a local Ray bind every service to 127.0.0.1.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Ray's token authentication (Ray >= 2.5x; ray/_private/authentication): the mode, the token, and a
# token file Ray would read instead. Ray's processes (GCS, raylet, workers) inherit them from the driver.
AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
ADDRESS_ENV = "RAY_ADDRESS"  # ray.init's default address; mchmc's own is --ray-address / MCHMC_RAY_ADDRESS


def connect(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
            temp_dir: str | None = None) -> dict[str, float]:
    """Join the cluster at ``address`` or start a local, loopback-only Ray; returns its resources.

    The driver's node address follows the cluster's: loopback for a local Ray or
    a head on 127.0.0.1 (Ray would otherwise swap 127.0.0.1 for the machine's
    routable IP and miss that head), this machine's routable IP for a cluster
    elsewhere (its workers must reach the driver back). Joining a cluster that
    is not on loopback prints a one-line warning about Ray's missing
    authentication (mchmc.service_exposure).

    A local Ray is private to this run: it requires a fresh random token
    (:func:`private_ray_auth`), so no other local process can join it and run
    code as the user, and it is always a new cluster (``address="local"``): a
    stray ``RAY_ADDRESS`` or a stale or planted ``ray_current_cluster`` file
    is never followed. Joining ``address`` uses the user's own auth settings."""
    from mchmc.service_exposure import is_loopback, ray_exposure_warning

    loopback = not address or is_loopback(address)
    for key, value in LOOPBACK_ENV.items():
        if key != CLUSTER_ENV or loopback:
            os.environ.setdefault(key, value)
    import ray
    from ray._private import ray_constants

    if not ray.is_initialized():
        if address and address != "auto":
            ray_constants.ENABLE_RAY_CLUSTER = not loopback  # also when ray was imported before
        elif not address:
            ray_constants.ENABLE_RAY_CLUSTER = os.environ[CLUSTER_ENV] != "0"
        if address:
            restore_user_ray_auth()  # the user's cluster, the user's auth config
        else:
            private_ray_auth()
        warning = ray_exposure_warning(address)
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
        quiet_error_notices()
        if address:
            ray.init(address=address, **kwargs)
        else:
            with lean_local_start():
                ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, _temp_dir=temp_dir, **kwargs)
            stop_autoscaler_monitor()
    return ray.cluster_resources()


def quiet_error_notices() -> None:
    """Keep the GCS's error notices off the user's terminal: Ray's driver prints them itself
    (``(raylet) A worker died or was killed ...``, a paragraph a time), whatever ``log_to_driver``
    says. What a worker's death cost is ours to tell (the page's error record; a restarted
    network service's new pid in the record), and the notice stays in Ray's logs. Left as Ray
    has it when its internals are not as expected."""
    try:
        from ray._private import worker
    except ImportError:
        return
    show = getattr(worker, "print_to_stdstream", None)
    if show is None or getattr(show, "mchmc_quiet", False):
        return

    def quiet(data, *args, **kwargs):
        if not (isinstance(data, dict) and data.get("pid") == "raylet"):
            show(data, *args, **kwargs)

    quiet.mchmc_quiet = True
    worker.print_to_stdstream = quiet


@contextmanager
def lean_local_start(poll_s: float = 0.01, limit_s: float = 30.0):
    """While a private local Ray starts (``ray.init(address="local")``), skip two waits that buy it
    nothing (issue 16: together about half of ``ray.init``, Ray 2.60):

    - the raylet's registration: ``ray.init`` looks the new node up through ``services.get_node``,
      whose C++ accessor polls once a second, while the raylet registers ~0.5 s after it starts,
      so every start waited a whole 1 s or 2 s. Here the GCS's node table is polled every
      ``poll_s`` first, then Ray's own ``get_node`` runs and finds the node at once (any failure
      is still Ray's own to report);
    - the API server: with ``include_dashboard=False`` Ray still starts a dashboard process that
      loads only the usage-stats module (which mchmc turns off) and waits ~0.5 s for it to publish
      its URL. A private cluster needs neither, and it is one HTTP listener fewer.

    Each is left as Ray has it when Ray's internals are not as expected."""
    try:
        from ray._private import services
        from ray._raylet import GcsClient
    except ImportError:
        yield
        return
    get_node, start_api_server = getattr(services, "get_node", None), getattr(services, "start_api_server", None)

    def prompt_get_node(gcs_address, node_id):
        client, deadline = GcsClient(address=gcs_address), time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                if any(key.hex() == node_id for key in client.get_all_node_info(timeout=1)):
                    break
            except Exception:  # the GCS not answering yet; Ray's own call below reports a real failure
                pass
            time.sleep(poll_s)
        return get_node(gcs_address, node_id)

    def no_api_server(include_dashboard, *args, **kwargs):
        if include_dashboard is False:
            return None, None  # (dashboard url, process): what Ray's node takes for "not started"
        return start_api_server(include_dashboard, *args, **kwargs)

    patched = {name: fn for name, fn, original in (("get_node", prompt_get_node, get_node),
                                                    ("start_api_server", no_api_server, start_api_server))
               if original is not None}
    originals = {name: getattr(services, name) for name in patched}
    for name, fn in patched.items():
        setattr(services, name, fn)
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(services, name, fn)


def stop_autoscaler_monitor() -> bool:
    """Stop the autoscaler monitor of the local Ray this process started; True if one was running.

    A private cluster has a fixed size, so the monitor has nothing to scale; it polls the GCS for
    the whole run and, at ``ray.shutdown``, ignores SIGTERM for the full second Ray gives it before
    a SIGKILL: a second of every shutdown (the tests start Ray dozens of times)."""
    import ray

    node = getattr(getattr(getattr(ray, "_private", None), "worker", None), "_global_node", None)
    stopped = False
    for info in getattr(node, "all_processes", {}).get("monitor", []):
        if info.process.poll() is None:
            info.process.kill()
            info.process.wait(timeout=5)
            stopped = True
    return stopped


_user_auth: dict[str, str | None] | None = None  # the user's AUTH_ENV while a private cluster's is set


def private_ray_auth() -> str:
    """Token authentication for a private local Ray: a fresh random token (256 bits) for this
    cluster only, set in the environment that its processes inherit (nothing written to disk, not
    on any command line); a stray RAY_ADDRESS is dropped. Returns the token."""
    import secrets

    global _user_auth
    if _user_auth is None:
        _user_auth = {key: os.environ.get(key) for key in AUTH_ENV}
    token = secrets.token_hex(32)
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)  # RAY_AUTH_TOKEN wins anyway; no file for anyone to plant
    os.environ.pop(ADDRESS_ENV, None)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    _reload_ray_auth()
    return token


def restore_user_ray_auth() -> None:
    """Put back the user's own auth variables after a private cluster of this process set its own."""
    global _user_auth
    if _user_auth is None:
        return
    for key, value in _user_auth.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _user_auth = None
    _reload_ray_auth()


def _reload_ray_auth() -> None:
    """Make this process's Ray see the auth variables as they are now (it caches its config and
    token; ray.init only refreshes them itself when it turns auth on by default)."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token authentication ignores the variables
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
