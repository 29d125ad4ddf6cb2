"""``--engine`` and ``--ray-address``: the options every parallel command shares.

Imports no engine: ray is loaded only when a command runs with ``--engine ray``.
"""

from __future__ import annotations

import functools

import click

ENGINE_HELP = (
    "Where the parallel stages run: local (this machine's processes, the default) "
    "or ray (Ray Data tasks on a Ray instance or cluster; the same results). "
    "Default: $CURATE_ENGINE, else local."
)
ADDRESS_HELP = (
    "Ray cluster for --engine ray: auto (the cluster this machine belongs to), "
    "host:6379, ray://host:10001 (Ray Client) or local (a private Ray instance on "
    "this machine). Default: $CURATE_RAY_ADDRESS, else $RAY_ADDRESS, else local. "
    "Implies --engine ray."
)


def engine_options(func):
    """Add ``--engine`` and ``--ray-address``; the command gets ``engine=EngineSettings``."""

    @click.option(
        "--engine",
        "engine_name",
        type=click.Choice(["local", "ray"]),
        default=None,
        help=ENGINE_HELP,
    )
    @click.option(
        "--ray-address", "ray_address", default=None, metavar="ADDRESS", help=ADDRESS_HELP
    )
    @functools.wraps(func)
    def wrapper(*args, engine_name: str | None, ray_address: str | None, **kwargs):
        kwargs["engine"] = engine_settings(engine_name, ray_address)
        return func(*args, **kwargs)

    return wrapper


def engine_settings(engine_name: str | None, ray_address: str | None):
    """Settings from the flags over the environment (a CurateError on bad values)."""
    from curate.engines import EngineSettings

    if ray_address and engine_name is None:
        engine_name = "ray"
    return EngineSettings.from_env(engine=engine_name, ray_address=ray_address)
