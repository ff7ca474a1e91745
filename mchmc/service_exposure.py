"""Is a service address reachable from other machines, and what that means for security.

Why this exists: Ray's cluster API accepts work from anyone who can reach it
and runs it as code (jobs, actors, pickled functions); with no token set it has
no authentication at all. That is how the ShadowRay campaign (CVE-2023-48022)
took over exposed clusters. A Prefect server without an auth string likewise
lets anyone who reaches it create and run deployments. So mchmc keeps every
service it starts on loopback, and says so, in one line, whenever the user
points it at an address other machines can reach. Loopback alone does not keep
out the machine's other processes, so the local Ray a run starts also requires
a fresh random token of that run (``mchmc.batch.pool.ray_local.private_ray_auth``).

    is_loopback("127.0.0.1:6379")          -> True
    ray_exposure_warning("10.0.0.5:6379")  -> "Ray at 10.0.0.5:6379 is not on loopback: ..."
"""
from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def host_of(address: str) -> str:
    """The host part of ``host:port``, ``[v6]:port``, ``ray://host:port`` or an ``http(s)://`` URL."""
    text = address.strip()
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        host = None
    return (host or "").lower()


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of this machine's loopback."""
    host = host_of(address)
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ray_token_auth_on(env: dict[str, str] | None = None) -> bool:
    """Ray >= 2.5x checks a shared token on every connection when RAY_AUTH_MODE=token."""
    env = os.environ if env is None else env
    return env.get("RAY_AUTH_MODE", "").lower() == "token"


def ray_exposure_warning(address: str | None, env: dict[str, str] | None = None) -> str | None:
    """One line to show when joining a Ray cluster that is not on loopback; None when it is."""
    if not address or address == "auto" or is_loopback(address):
        return None
    where = f"Ray at {address} is not on loopback"
    if ray_token_auth_on(env):
        return (f"{where}: token authentication is on (RAY_AUTH_MODE=token), but traffic is not encrypted; "
                "keep the cluster on a private network and the token secret")
    return (f"{where} and Ray's API has no authentication (the ShadowRay attacks, CVE-2023-48022): anyone who "
            "can reach it can run code on every node. Keep it on a private network or firewall it, and set "
            "RAY_AUTH_MODE=token with RAY_AUTH_TOKEN on every node and client")


def prefect_exposure_warning(api_url: str | None, env: dict[str, str] | None = None) -> str | None:
    """One line to show when the Prefect API is not on loopback and no auth string is set; else None."""
    env = os.environ if env is None else env
    if not api_url or is_loopback(api_url) or env.get("PREFECT_API_AUTH_STRING"):
        return None
    return (f"Prefect API at {api_url} is not on loopback and PREFECT_API_AUTH_STRING is not set: if the server "
            "has no auth string, anyone who reaches it can create and run flows. Set "
            "PREFECT_SERVER_API_AUTH_STRING on the server and PREFECT_API_AUTH_STRING here")
