"""`curate evaluate`: what a version is worth to a fixed downstream classifier."""

from __future__ import annotations

import sys

import click

from curate.cli.render import (
    emit_json,
    json_option,
    on_interrupt,
    open_workspace,
    progress_bar,
    warn_pending_changes,
)

EVALUATION_INTERRUPTED = "interrupted: the evaluation did not finish; nothing was saved"


def classifier_options(f):
    """--epochs/--seeds/--hidden: the knobs of the fixed classifier (shared with `report`)."""
    f = click.option(
        "--hidden",
        type=click.IntRange(min=8, max=4096),
        default=None,
        help="Classifier: units per hidden layer (default 256).",
    )(f)
    f = click.option(
        "--seeds",
        type=click.IntRange(min=1, max=20),
        default=None,
        help="Classifier: training runs per arm, averaged (default 3).",
    )(f)
    f = click.option(
        "--epochs",
        type=click.IntRange(min=1, max=1000),
        default=None,
        help="Classifier: passes over the training split (default 60).",
    )(f)
    return f


def classifier_config(epochs: int | None, seeds: int | None, hidden: int | None) -> dict:
    given = {"epochs": epochs, "seeds": seeds, "hidden": hidden}
    return {k: v for k, v in given.items() if v is not None}


def truth_options(f):
    f = click.option(
        "--truth-column",
        default=None,
        help="Label column of the truth file (default: true_label, else label).",
    )(f)
    f = click.option(
        "--truth",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="CSV/parquet of clean labels for the held-out split: a path (relative to "
        "the file) or sample_id column and a label column. Enables the oracle row.",
    )(f)
    return f


def render_evaluation(result) -> None:
    from rich.table import Table

    from curate.cli.render import stderr_console

    console = stderr_console()
    console.file = sys.stdout
    from curate.report.narrative import ROLE_NAMES, evaluation_sentence, pct

    table = Table(
        title=f"held-out: {result.test_samples} images of "
        f"{result.baseline or result.candidate}/{result.eval_split}, {result.test_labels}"
    )
    for col in ("training data", "version", "train samples", "accuracy", "macro-F1"):
        table.add_column(col, justify="left" if col in ("training data", "version") else "right")
    for arm in result.arms:
        table.add_row(
            ROLE_NAMES[arm.role],
            arm.version,
            str(arm.train_samples),
            f"{pct(arm.accuracy, 2)} ± {pct(arm.accuracy_std, 2)}",
            f"{pct(arm.macro_f1, 2)} ± {pct(arm.macro_f1_std, 2)}",
        )
    console.print(table)
    recall = Table(title="per-class recall")
    recall.add_column("class")
    recall.add_column("held-out", justify="right")
    for arm in result.arms:
        recall.add_column(ROLE_NAMES[arm.role], justify="right")
    for name, n in result.test_by_class.items():
        recall.add_row(name, str(n), *(pct(a.per_class_recall.get(name)) for a in result.arms))
    console.print(recall)
    click.echo(evaluation_sentence(result))
    for w in result.warnings:
        click.echo(click.style("note: ", fg="yellow") + w, err=True)


@click.command("evaluate")
@click.argument("version", default="HEAD")
@click.option(
    "--against", default=None, help="Version to compare with (e.g. the raw one): its row first."
)
@truth_options
@click.option(
    "--split",
    "eval_split",
    default="test",
    show_default=True,
    help="Held-out split scored (taken from --against when given).",
)
@click.option("--train-split", default="train", show_default=True, help="Split each row trains on.")
@click.option("--no-oracle", is_flag=True, help="Skip the clean-label oracle row.")
@classifier_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also save the result as JSON (`curate report --evaluation FILE` reads it).",
)
@json_option
@click.pass_context
def evaluate_cmd(
    ctx,
    version: str,
    against: str | None,
    truth: str | None,
    truth_column: str | None,
    eval_split: str,
    train_split: str,
    no_oracle: bool,
    epochs: int | None,
    seeds: int | None,
    hidden: int | None,
    out: str | None,
    as_json: bool,
) -> None:
    """Train the same fixed classifier on each version's train split; score a held-out split.

    Reports accuracy, macro-F1 and per-class recall for VERSION (default
    HEAD) and, with --against, the version it is compared with. With --truth
    the held-out split is scored with clean labels and a third row trains on
    the --against version with those clean labels (the oracle); the result
    then says what fraction of the raw -> oracle gap VERSION closed.

    The classifier is a small pixel MLP trained on one CPU thread with fixed
    seeds and epochs: the same for every row, so only the data differs.
    """
    from curate.outputs import check_output_file, write_atomically

    if out is not None:
        check_output_file(out)  # before the training, not after it
    with open_workspace(ctx) as ws:
        warn_pending_changes(ws, version)
        with progress_bar("evaluate") as bar, on_interrupt(EVALUATION_INTERRUPTED):
            result = ws.evaluate(
                version,
                against=against,
                truth=truth,
                truth_column=truth_column,
                eval_split=eval_split,
                train_split=train_split,
                oracle=not no_oracle,
                classifier=classifier_config(epochs, seeds, hidden),
                progress=bar,
            )
    if out is not None:
        write_atomically(out, result.model_dump_json(indent=2))
    if as_json:
        emit_json(result)
        return
    render_evaluation(result)
    if out is not None:
        click.echo(f"Saved {out}", err=True)
