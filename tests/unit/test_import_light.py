"""`import curate` (and building the CLI) must not pull in heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "torch",
    "textual",
    "cleanlab",
    "diffusers",
    "albumentations",
    "datasets",
    "duckdb",
    "sklearn",
    "ray",  # only curate.engines.ray and curate.synthesize.remote import it
]


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    return [m for m in HEAVY if m in modules]


def test_import_curate_is_light():
    assert _loaded_after("import curate") == []


def test_public_names_resolve_lazily():
    assert _loaded_after("import curate; curate.Workspace") == ["duckdb"]


def test_errors_are_public_names_and_light():
    code = (
        "import curate\n"
        "assert curate.errors.NotFound is curate.NotFound\n"
        "for name in ('CurateError', 'InvalidInput', 'NotFound', 'Cancelled', "
        "'WorkspaceLocked', 'WorkspaceNotFound', 'Interrupted'):\n"
        "    assert getattr(curate, name) is getattr(curate.errors, name)\n"
        "    assert name in curate.__all__ and name in dir(curate)\n"
    )
    assert _loaded_after(code) == []


def test_cli_help_does_not_load_heavy_libraries():
    code = (
        "from click.testing import CliRunner\n"
        "from curate.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
    )
    assert _loaded_after(code) == []
