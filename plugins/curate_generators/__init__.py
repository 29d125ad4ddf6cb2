"""curate's built-in generators, registered through ``curate.generators`` entry points.

They live outside the ``curate`` package on purpose: they import torch and
diffusers at module level and are found exactly like a third party's plugin
would be (see ``pyproject.toml``).
"""
