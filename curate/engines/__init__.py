"""Where the parallel stages of scan, augment and export run: ``local`` or ``ray``.

See :mod:`curate.engines.base` for the seam and docs/ray.md for clusters.
Importing this package imports neither ray nor pyarrow.
"""

from curate.engines.base import (
    ENGINES,
    Engine,
    EngineName,
    EngineSettings,
    open_engine,
    using_engine,
)

__all__ = ["ENGINES", "Engine", "EngineName", "EngineSettings", "open_engine", "using_engine"]
