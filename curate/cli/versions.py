"""Versions: `curate commit|log|show|diff|tag`.

A version is named by number (`3` or `v3`), tag, hash prefix, or `HEAD`,
each optionally followed by `~N` (its N-th parent).
"""

from __future__ import annotations

import sys

import click

from curate.cli.render import emit_json, json_option, open_workspace, stderr_console
from curate.errors import InvalidInput


def _stdout_console():
    console = stderr_console()
    console.file = sys.stdout  # tables are results: stdout (stderr_console is for progress)
    return console


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) or "-"


@click.command("commit")
@click.option("--message", "-m", required=True, help="What this version is (shown by log).")
@click.option("--allow-empty", is_flag=True, help="Commit even if nothing changed.")
@json_option
@click.pass_context
def commit_cmd(ctx, message: str, allow_empty: bool, as_json: bool) -> None:
    """Freeze the working state as a new immutable version.

    The version holds every live sample's label and split (image bytes are
    shared, never copied), a content hash (same content, same hash), its
    parent, and stats. Pending changes are stamped with it. All or nothing:
    a crash leaves either the old or the new state.
    """
    with open_workspace(ctx) as ws:
        result = ws.commit(message, allow_empty=allow_empty)
    if as_json:
        emit_json(result)
        return
    v = result.version
    click.echo(
        f"Committed {v.name} {v.hash[:12]}: {v.stats.samples} samples "
        f"({_counts(v.stats.splits)}); took in {sum(v.stats.changes.values())} change(s), "
        f"{v.stats.new_samples} new sample(s) in {result.seconds:.2f}s."
    )


@click.command("log")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="Show the newest N.")
@json_option
@click.pass_context
def log_cmd(ctx, limit, as_json: bool) -> None:
    """List versions, newest first."""
    with open_workspace(ctx) as ws:
        versions = ws.log()
        pending = len(ws.changes())
    versions = versions[:limit] if limit else versions
    if as_json:
        emit_json([v.model_dump(mode="json") for v in versions])
        return
    if not versions:
        click.echo("No versions yet; make one with `curate commit -m MESSAGE`.")
        return
    from rich.table import Table

    table = Table(
        title=f"{len(versions)} version(s)" + (f", {pending} pending change(s)" if pending else "")
    )
    for col in ("version", "hash", "tags", "created", "samples", "changes", "message"):
        table.add_column(col, justify="right" if col in ("samples", "changes") else "left")
    for v in versions:
        table.add_row(
            v.name,
            v.hash[:12],
            ", ".join(v.tags),
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(v.stats.samples),
            str(sum(v.stats.changes.values())),
            v.message or "",
        )
    _stdout_console().print(table)


@click.command("show")
@click.argument("version", default="HEAD")
@click.option(
    "--changes/--no-changes", "with_changes", default=False, help="List the changes it took in."
)
@json_option
@click.pass_context
def show_cmd(ctx, version: str, with_changes: bool, as_json: bool) -> None:
    """Details of VERSION (default HEAD): hash, parent, counts per class x split, origins."""
    from curate.store import worktree_repo

    with open_workspace(ctx) as ws:
        v = ws.version(version).info
        changes = (
            worktree_repo.list_changes(ws.catalog(), version_id=v.version_id)
            if with_changes
            else None
        )
    if as_json:
        payload = v.model_dump(mode="json")
        if changes is not None:
            payload["changes"] = [c.model_dump(mode="json") for c in changes]
        emit_json(payload)
        return
    console = _stdout_console()
    tags = f" ({', '.join(v.tags)})" if v.tags else ""
    console.print(f"[bold]{v.name}[/bold]{tags}  {v.hash}")
    console.print(f"parent: {v.parent or '-'}   created: {v.created_at:%Y-%m-%d %H:%M:%S}")
    console.print(f"message: {v.message or ''}")
    s = v.stats
    console.print(
        f"{s.samples} samples; splits: {_counts(s.splits)}; origins: {_counts(s.origins)}; "
        f"label sources: {_counts(s.label_sources)}; unlabeled: {s.unlabeled}"
    )
    console.print(f"took in: {_counts(s.changes)}; new samples: {s.new_samples}")
    from rich.table import Table

    splits = sorted({k for c in s.classes.values() for k in c})
    table = Table()
    table.add_column("class")
    table.add_column("total", justify="right")
    for sp in splits:
        table.add_column(sp, justify="right")
    for name, by_split in s.classes.items():
        table.add_row(
            name, str(sum(by_split.values())), *(str(by_split.get(sp, 0)) for sp in splits)
        )
    console.print(table)
    if changes:
        for c in changes[:200]:
            what = (
                f"{c.from_label} -> {c.label}" if c.op == "relabel" else (c.split or c.label or "")
            )
            console.print(f"  {c.op:8} {c.sample_id[:12]}  {what}  {c.reason or ''}")
        if len(changes) > 200:
            console.print(f"  ... and {len(changes) - 200} more (--json lists all)")


@click.command("diff")
@click.argument("a", default="HEAD")
@click.argument("b", default="working")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Rows shown per section in the table view (--json always lists all).",
)
@json_option
@click.pass_context
def diff_cmd(ctx, a: str, b: str, limit: int, as_json: bool) -> None:
    """What changed from version A to B: added, removed, relabeled (and why), moved.

    A defaults to HEAD, B to the working state (`working`), so a bare
    `curate diff` shows what a commit would record.
    """
    with open_workspace(ctx) as ws:
        d = ws.diff(a, b)
    if as_json:
        emit_json(d)
        return
    console = _stdout_console()
    console.print(
        f"[bold]{d.a} -> {d.b}[/bold]: {d.summary['added']} added, {d.summary['removed']} removed, "
        f"{d.summary['relabeled']} relabeled, {d.summary['moved']} moved"
        + ("  (identical)" if d.identical else "")
    )

    def section(title: str, rows: list[str]) -> None:
        if not rows:
            return
        console.print(f"[bold]{title}[/bold]")
        for line in rows[:limit]:
            console.print("  " + line, markup=False, highlight=False)
        if len(rows) > limit:
            console.print(f"  ... and {len(rows) - limit} more (--limit, --json)")

    section(
        "relabeled",
        [
            f"{r.sample_id[:12]} {r.from_} -> {r.to}  [{r.label_source or ''}] {r.reason or ''}  {r.source or ''}"
            for r in d.relabeled
        ],
    )
    section(
        "moved",
        [f"{m.sample_id[:12]} {m.from_split} -> {m.to_split}  {m.source or ''}" for m in d.moved],
    )
    section(
        "added",
        [
            f"{s.sample_id[:12]} {s.label} ({s.split}, {s.origin})  {s.source or ''}"
            for s in d.added
        ],
    )
    section(
        "removed",
        [f"{s.sample_id[:12]} {s.label} ({s.split})  {s.source or ''}" for s in d.removed],
    )
    changed = {k: c for k, c in d.classes.items() if c.delta}
    if changed:
        console.print(
            "[bold]classes[/bold]: " + ", ".join(f"{k} {c.a}->{c.b}" for k, c in changed.items())
        )


@click.command("tag")
@click.argument("name", required=False)
@click.argument("version", required=False)
@click.option("--force", is_flag=True, help="Move an existing tag.")
@click.option("--delete", "delete", is_flag=True, help="Remove tag NAME.")
@json_option
@click.pass_context
def tag_cmd(ctx, name, version, force: bool, delete: bool, as_json: bool) -> None:
    """Name VERSION (default HEAD) NAME; without arguments, list tags.

    Tags name versions anywhere a version is asked for: `curate export best`.
    Re-tagging the version a tag already names changes nothing (exit 0);
    moving a tag to another version needs --force.
    """
    if delete and (name is None or version is not None or force):
        raise InvalidInput("--delete takes the tag NAME only", hint="curate tag NAME --delete")
    with open_workspace(ctx) as ws:
        if name is None:
            tags = ws.tags()
            if as_json:
                emit_json([t.model_dump(mode="json") for t in tags])
            else:
                for t in tags:
                    click.echo(f"{t.name}\t{t.version}")
                if not tags:
                    click.echo("No tags.")
            return
        if delete:
            ws.untag(name)
            if as_json:
                emit_json({"deleted": name})
            else:
                click.echo(f"Deleted tag {name}.")
            return
        before = next((t for t in ws.tags() if t.name == name), None)
        tag = ws.tag(name, version, force=force)
    # Re-tagging the version a tag already names is a no-op (the tag comes back as it was).
    unchanged = tag == before
    if as_json:
        emit_json({**tag.model_dump(mode="json"), "unchanged": unchanged})
    elif unchanged:
        click.echo(f"tag {tag.name!r} already names {tag.version}; left as it is.")
    else:
        click.echo(f"Tagged {tag.version} as {tag.name}.")
