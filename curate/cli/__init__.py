"""The ``curate`` command line: a thin view over :mod:`curate.api`.

Each command parses its options, calls one API function and renders the
result. Command modules are imported lazily so ``curate --help`` stays fast
and never loads torch.
"""

from __future__ import annotations

import difflib
import importlib
import sys

import click

from curate.cli.render import handle_errors, workspace_param

# name -> "module:attribute". Add a command by adding a line here.
COMMANDS: dict[str, str] = {
    "init": "curate.cli.workspace:init_cmd",
    "ingest": "curate.cli.workspace:ingest_cmd",
    "status": "curate.cli.workspace:status_cmd",
    "demo": "curate.cli.demo:demo_cmd",
    # scan (issue 3)
    "scan": "curate.cli.scan:scan_cmd",
    "issues": "curate.cli.scan:issues_cmd",
    "extractors": "curate.cli.scan:extractors_cmd",
    # working changes, splits, versions, export (issue 4)
    "relabel": "curate.cli.changes:relabel_cmd",
    "drop": "curate.cli.changes:drop_cmd",
    "restore": "curate.cli.changes:restore_cmd",
    "accept": "curate.cli.changes:accept_cmd",
    "changes": "curate.cli.changes:changes_cmd",
    "reset": "curate.cli.changes:reset_cmd",
    "split": "curate.cli.changes:split_cmd",
    "commit": "curate.cli.versions:commit_cmd",
    "log": "curate.cli.versions:log_cmd",
    "show": "curate.cli.versions:show_cmd",
    "diff": "curate.cli.versions:diff_cmd",
    "tag": "curate.cli.versions:tag_cmd",
    "export": "curate.cli.export:export_cmd",
    # augmentation (issue 5)
    "augment": "curate.cli.augment:augment_group",
    "lineage": "curate.cli.lineage:lineage_cmd",
    # synthesis (issue 6)
    "synth": "curate.cli.synth:synth_cmd",
    "generators": "curate.cli.synth:generators_cmd",
    # tui (issue 7)
    "tui": "curate.cli.tui:tui_cmd",
    # report, evaluate (issue 8)
    "report": "curate.cli.report:report_cmd",
    "evaluate": "curate.cli.evaluate:evaluate_cmd",
}


# demo makes its own folder (--out): it accepts -w after its name as before it
# (and ignores it both ways), but its help does not offer it. (init's -w names
# the folder to create.)
NO_WORKSPACE_OPTION = {"demo"}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        # `--workspace` is the group's option; users put it after the command
        # name too (`curate status -w DIR`), so every command takes it there
        # (the README says so); one that needs no workspace ignores it, as it does
        # before its name. Groups (augment) give it to their subcommands themselves.
        if not isinstance(command, click.Group) and not any(
            isinstance(p, click.Option) and "--workspace" in p.opts for p in command.params
        ):
            command.params.append(workspace_param(hidden=name in NO_WORKSPACE_OPTION))
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = click.utils.make_str(args[0])
        if (
            not ctx.resilient_parsing
            and ctx.token_normalize_func is None
            and not name.startswith("-")  # click re-parses those as options
            and self.get_command(ctx, name) is None
        ):
            raise UnknownCommand(name, self.list_commands(ctx), ctx=ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        with handle_errors():
            return super().invoke(ctx)


class UnknownCommand(click.UsageError):
    """``curate statsu``: the closest command names as a hint, as for presets and classes."""

    def __init__(self, name: str, known: list[str], ctx: click.Context | None = None) -> None:
        super().__init__(f"no such command {name!r}", ctx)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        self.hint = f"did you mean {', '.join(close)}?" if close else None


def one_line(exc: click.UsageError) -> tuple[str, str | None]:
    """(message, hint) of click's usage error, the message on one line.

    Click spreads some over several ("Missing option '--format'. Choose from:\n\thf,\n\t...");
    its "Did you mean ...?" becomes the hint.
    """
    hint = getattr(exc, "hint", None)
    possibilities = getattr(exc, "possibilities", None)
    param = getattr(exc, "param", None)
    choices = getattr(getattr(param, "type", None), "choices", None)
    if isinstance(exc, click.MissingParameter) and param is not None and choices:
        kind = exc.param_type or param.param_type_name
        named = exc.param_hint or param.get_error_hint(exc.ctx)
        if not isinstance(named, str):
            named = " / ".join(named)
        message = f"missing {kind} {named} (choose from {', '.join(map(str, choices))})"
    elif possibilities:
        message = exc.message  # without click's "Did you mean ...?"
        hint = hint or f"did you mean {', '.join(possibilities)}?"
    else:
        message = exc.format_message()
    message = " ".join(message.split()).rstrip(".")
    if message[:1].isupper() and message[1:2].islower():  # "Missing ..." -> "missing ..."
        message = message[0].lower() + message[1:]
    return message, hint


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="curate")
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=str),
    envvar="CURATE_WORKSPACE",
    help="Workspace folder. Default: the nearest one at or above the current folder.",
)
@click.pass_context
def cli(ctx: click.Context, workspace: str | None) -> None:
    """curate: find and fix what is wrong with an image dataset.

    Scan for label errors, imbalance, duplicates and bad images; review and
    fix them; augment and synthesize rare classes; version and export the
    curated splits. Start with `curate demo`, or `curate init DIR` then
    `curate ingest FOLDER`.
    """
    ctx.obj = {"workspace": workspace}


# click >= 8.2 raises this for a group called without a command (older ones print help).
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main() -> None:
    """The ``curate`` executable: click's own usage errors in curate's one-line form too."""
    from curate.cli.render import error_line

    try:
        # Not standalone: click would print a usage block, a blank line and
        # "Error: ..." for a mistyped option; every other mistake is one line.
        code = cli.main(prog_name="curate", standalone_mode=False)
    except _NO_ARGS_IS_HELP as exc:  # a bare group: its help, as click prints it
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx is not None else "curate"
        message, hint = one_line(exc)
        error_line(
            message, hint or f"see '{path} --help'", exit_code=exc.exit_code, kind="UsageError"
        )
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        message = " ".join(exc.format_message().split())
        error_line(message, exit_code=exc.exit_code, kind=type(exc).__name__)
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):  # raised outside a command's handler
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
