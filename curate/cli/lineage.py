"""`curate lineage SAMPLE`: where a sample came from and what was made from it.

The lineage is what augmentation and synthesis record in the catalog
(origin, parents, recipe); this command shows it without SQL or an export.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from curate.cli.render import emit_json, json_option, open_workspace, stderr_console

#: Children listed in the readable view; --json lists them all.
CHILDREN_SHOWN = 20


def _short(sample_id: str) -> str:
    return sample_id[:12]


def _value(value: Any) -> str:
    """A recipe value on one line: floats to 4 significant digits, lists and dicts compact."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _params(params: dict[str, Any] | None) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in (params or {}).items())


def _state(live: bool, label: str | None, split: str | None) -> str:
    if not live:
        return "dropped"
    return f"label {label if label is not None else 'none'}, split {split or 'none'}"


def _augmentation(recipe: dict[str, Any], sample_id: str) -> list[tuple[str, str]]:
    policy = recipe.get("policy") or ""
    rows = [
        (
            "policy",
            f"{recipe.get('policy_name') or '?'} ({policy[:12]}), "
            f"pipeline {recipe.get('pipeline', 'default')}",
        ),
        (
            "seed",
            f"{recipe.get('seed')}, copy {recipe.get('copy')}, attempt {recipe.get('attempt')}, "
            f"decoded as {recipe.get('decode_mode')}, albumentations {recipe.get('albumentations')}",
        ),
    ]
    applied = recipe.get("applied") or []
    for i, step in enumerate(applied):
        line = f"{step.get('transform')} {_params(step.get('params'))}".rstrip()
        rows.append(("applied" if i == 0 else "", line))
    if not applied:
        rows.append(("applied", "none"))
    rows.append(
        ("rebuild", f"curate augment replay {_short(sample_id)} (from its parent and the policy)")
    )
    return rows


def _synthesis(recipe: dict[str, Any]) -> list[tuple[str, str]]:
    checkpoint = str(recipe.get("checkpoint") or "")
    rows = [
        (
            "generator",
            f"{recipe.get('generator')}, checkpoint {checkpoint[:12] or '?'}, "
            f"seed {recipe.get('seed')}, image {recipe.get('index')}, "
            f"class {recipe.get('class')}",
        )
    ]
    if recipe.get("params"):
        rows.append(("options", _params(recipe["params"])))
    return rows


@click.command("lineage")
@click.argument("sample")
@json_option
@click.pass_context
def lineage_cmd(ctx, sample: str, as_json: bool) -> None:
    """Where SAMPLE came from and what was made from it.

    An augmented sample: its parent, policy, seed, copy and each applied
    transform with the parameters it drew (`curate augment replay SAMPLE`
    rebuilds it). A synthetic one: its generator, checkpoint and seed. An
    original: its source paths. Each: the samples made from it. SAMPLE is a
    sid, a sample id, a unique id prefix or a source path.
    """
    with open_workspace(ctx) as ws:
        lineage = ws.lineage(sample)
    if as_json:
        emit_json(lineage)
        return
    from rich.text import Text

    console = stderr_console()
    console.file = sys.stdout  # results: stdout (stderr_console is for progress)

    def line(key: str, value: str) -> None:
        # Text, not markup: paths and class names may hold brackets.
        console.print(Text.assemble((f"{key:<10}", "bold"), value), soft_wrap=True)

    line(
        "sample",
        f"{lineage.sample_id} (sid {lineage.sid}), {lineage.origin}; "
        f"{_state(lineage.live, lineage.label, lineage.split)}",
    )
    for i, path in enumerate(lineage.sources):
        line("source" if i == 0 else "", path)
    for i, p in enumerate(lineage.parents):
        where = "not in this catalog" if p.sid is None else f"sid {p.sid}, {p.origin}"
        text = f"{_short(p.sample_id)} ({where})"
        if p.sid is not None:
            text += f"; {_state(p.live, p.label, p.split)}"
        if p.source:
            text += f"; {p.source}"
        line("parent" if i == 0 else "", text)
    recipe = lineage.recipe or {}
    if lineage.origin == "augmented" and recipe.get("kind") == "augment":
        rows = _augmentation(recipe, lineage.sample_id)
    elif lineage.origin == "synthetic" and "generator" in recipe:
        rows = _synthesis(recipe)
    elif recipe:  # a recipe this view does not know: as stored
        rows = [("recipe", json.dumps(recipe, sort_keys=True))]
    else:
        rows = []
    for key, value in rows:
        line(key, value)
    kids = lineage.children
    if not kids:
        line("children", "none")
        return
    live = sum(k.live for k in kids)
    line("children", f"{len(kids)} ({live} live)")
    for k in kids[:CHILDREN_SHOWN]:
        line(
            "",
            f"{_short(k.sample_id)} (sid {k.sid}), {k.origin}, {'live' if k.live else 'dropped'}",
        )
    if len(kids) > CHILDREN_SHOWN:
        line("", f"... and {len(kids) - CHILDREN_SHOWN} more (--json lists all)")
