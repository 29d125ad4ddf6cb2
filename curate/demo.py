"""The main job: run curate's whole loop on the bundled sample data and measure the payoff.

Each step calls the public :class:`curate.api.Workspace` API exactly as a
user's script would; nothing here reaches into an engine. The order is chosen
so the final comparison is fair:

1. ingest the images as given (noisy labels, thinned classes);
2. scan them (label issues, duplicates) with the given labels only;
3. split into train / test FIRST, leakage-aware (duplicate groups stay on one
   side), and commit that as the **raw** version: the baseline a user would
   have trained on;
4. accept the scan's confident label fixes and drop exact duplicates; commit
   that as **fixed** (so the cost of each stage can be measured apart);
5. balance the train split only: the default generator synthesizes part of
   what the rare classes lack (gated), the augmentation preset tops every class
   up to the largest one; the test split is never touched by either;
6. commit the **curated** version, export it (Hugging Face datasets, parquet);
7. evaluate: the same fixed classifier trained on raw/train, curated/train and
   the clean-label oracle (raw/train with the true labels), all scored on the
   raw version's test images with the clean labels of ``ground_truth.csv``;
8. write the report (HTML + Markdown) with the numbers from this run.

The clean labels are read by step 7 only; curation never sees them.

A stage that changes nothing (clean labels, no duplicates, classes already
balanced) commits nothing: its step line says so, its tag names the latest
version, and the rest runs on that. When nothing changed at all, curated is
raw: the evaluation scores that one version against the oracle and the report
says there was no raw -> curated difference to measure.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from pydantic import Field

from curate.core.models import Model
from curate.core.progress import ProgressFn, no_progress
from curate.errors import InvalidInput, WorkspaceExists
from curate.evaluate.models import ClassifierConfig

StepFn = Callable[[str], None]
# The generator's training budget. On a 2-core CPU the GAN fits ~11 steps/s
# on one thread (measured on the sample digits: 600 steps in 53 s, 99 of 120
# generated images admitted), which keeps the demo within its 5-minute
# budget; a GPU affords a longer fit.
CPU_FIT_STEPS = 600
GPU_FIT_STEPS = 2000
ProgressFactory = Callable[[str], AbstractContextManager[ProgressFn]]


class DemoSettings(Model):
    """Knobs of the demo; the defaults are the README's `curate demo`."""

    scan_extractor: str | None = Field(None, description="scan extractor (None: the default)")
    scan_folds: int = Field(5, ge=2, description="cross-validation folds of the scan")
    min_confidence: float = Field(
        0.9, ge=0, le=1, description="accept label fixes the scan is at least this sure of"
    )
    split_ratios: str = Field("0.7,0.3", description="train,test ratios of the first split")
    seed: int = Field(0, ge=0, description="seed for scan, split, augmentation and synthesis")
    device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")
    generator: str | None = Field(
        "gan", description="generator for the rare classes (None: skip synthesis)"
    )
    fit_steps: int | None = Field(
        None,
        ge=0,
        description=f"generator training steps (None: {GPU_FIT_STEPS} on a GPU, "
        f"a short {CPU_FIT_STEPS}-step run on a CPU)",
    )
    generator_params: dict[str, Any] = Field(
        default_factory=dict, description="generator options (its Params)"
    )
    rare_fraction: float = Field(
        0.6,
        gt=0,
        le=1,
        description="a class is rare below this fraction of the largest train class",
    )
    synth_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="share of a rare class's shortfall asked of the generator "
        "(augmentation fills the rest)",
    )
    augment_policy: str = Field("light", description="augmentation preset or policy file")
    classifier: ClassifierConfig = Field(
        default_factory=ClassifierConfig, description="the downstream classifier of the evaluation"
    )
    exports: tuple[str, ...] = Field(("hf", "parquet"), description="export formats")

    @classmethod
    def quick(cls) -> DemoSettings:
        """Small settings for tests and a first look: about half a minute on two CPU cores."""
        return cls(
            scan_extractor="pixels",
            scan_folds=3,
            fit_steps=20,
            generator_params={"width": 8, "batch_size": 32},
            synth_share=0.2,
            classifier=ClassifierConfig(epochs=40, seeds=1),
        )


class DemoStep(Model):
    name: str
    detail: str
    seconds: float


class DemoResult(Model):
    workspace: str
    raw: str = Field(description="the raw version (baseline)")
    curated: str = Field(description="the curated version")
    outputs: dict[str, str] = Field(description="what was written where")
    steps: list[DemoStep]
    accuracy: dict[str, float] = Field(description="held-out accuracy per arm")
    macro_f1: dict[str, float]
    gap_closed_accuracy: float | None
    gap_closed_macro_f1: float | None
    skipped: list[str] = Field(default_factory=list, description="steps left out, and why")
    seconds: float


def sample_data_dir() -> Path:
    """The repository's sample_data/ folder (next to the curate package)."""
    return Path(__file__).resolve().parent.parent / "sample_data"


@contextmanager
def _no_bar(description: str) -> Iterator[ProgressFn]:
    yield no_progress


def run_demo(
    out: Path,
    *,
    data: Path | None = None,
    truth: Path | None = None,
    overwrite: bool = False,
    settings: DemoSettings | None = None,
    step: StepFn = lambda message: None,
    progress_bar: ProgressFactory = _no_bar,
) -> DemoResult:
    """Run the loop into the workspace ``out`` and return where everything went.

    ``truth`` (CSV of clean labels) defaults to ``ground_truth.csv`` beside
    the sample data. ``step`` gets one line per step; ``progress_bar(desc)``
    is a context manager yielding a ``progress(done, total, message)``.
    """
    from curate.api import Workspace

    s = settings or DemoSettings()
    started = time.perf_counter()
    data = Path(data) if data is not None else sample_data_dir() / "digits"
    if not data.exists():
        raise InvalidInput(
            f"sample data not found at {data}",
            hint="run from a clone of the repository, or pass --data FOLDER",
        )
    if truth is None and (data.parent / "ground_truth.csv").exists():
        truth = data.parent / "ground_truth.csv"
    # The user's inputs are checked before anything is created: a typo must not
    # leave a half-made demo workspace behind (a rerun would then need --overwrite).
    if data.is_dir() and not any(p.is_file() for p in data.rglob("*")):
        raise InvalidInput(f"{data} holds no files", hint="pass --data FOLDER of images")
    if s.generator:
        from curate.plugins.registry import find_plugin

        find_plugin("curate.generators", s.generator)
    if truth is not None:
        from curate.evaluate.truth import load_truth

        load_truth(truth)
    out = Path(out)
    _prepare_out(out, overwrite=overwrite)
    outputs: dict[str, str] = {}
    steps: list[DemoStep] = []
    skipped: list[str] = []

    def done(name: str, detail: str, t0: float) -> None:
        steps.append(DemoStep(name=name, detail=detail, seconds=round(time.perf_counter() - t0, 2)))
        step(f"   {detail}")

    step(f"[1/10] creating workspace {out}")
    ws = Workspace.init(out)
    outputs["workspace"] = str(out.absolute())
    with ws:
        # -- ingest -------------------------------------------------------------------
        t0 = time.perf_counter()
        step(f"[2/10] ingesting {data}")
        with progress_bar("ingest") as bar:
            ingest = ws.ingest(data, progress=bar)
        status = ws.status()
        done(
            "ingest",
            f"{ingest.added_samples} images in {len(status.classes)} classes "
            f"({', '.join(f'{k}: {v}' for k, v in status.classes.items())}); "
            f"{len(ingest.quarantined)} quarantined, {ingest.conflicts} label conflicts",
            t0,
        )

        # -- scan ---------------------------------------------------------------------
        t0 = time.perf_counter()
        step("[3/10] scanning for label errors, duplicates, outliers and bad images")
        with progress_bar("scan") as bar:
            scan = ws.scan(
                s.scan_extractor, folds=s.scan_folds, seed=s.seed, device=s.device, progress=bar
            )
        issues = ", ".join(f"{n} {k}" for k, n in scan.issues.items())
        done("scan", f"{scan.extractor} extractor: {issues}", t0)

        # -- split first, then freeze the raw baseline --------------------------------
        t0 = time.perf_counter()
        step(f"[4/10] splitting {s.split_ratios} (train,test), leakage-aware; committing raw")
        split = ws.split(s.split_ratios, names=["train", "test"], seed=s.seed)
        raw = ws.commit("raw: as ingested, split into train/test").version
        ws.tag("raw", raw.name, force=True)
        done(
            "split + commit raw",
            f"{raw.name} (tag raw): {split.splits.get('train', 0)} train / "
            f"{split.splits.get('test', 0)} test, {split.groups} duplicate groups kept together",
            t0,
        )

        # -- fix labels, drop exact duplicates -----------------------------------------
        t0 = time.perf_counter()
        step(f"[5/10] accepting label fixes with confidence >= {s.min_confidence}")
        accepted = ws.accept(min_confidence=s.min_confidence)
        done(
            "accept label fixes",
            f"{accepted.accepted} relabeled of {accepted.candidates} suggestions "
            f"({accepted.skipped_low_confidence} below the confidence bar)",
            t0,
        )
        t0 = time.perf_counter()
        step("[6/10] dropping exact duplicates (keeping one of each group)")
        dropped = _drop_exact_duplicates(ws)
        done("drop exact duplicates", f"{dropped} dropped", t0)
        t0 = time.perf_counter()
        fixed = _commit_if_changed(ws, "fixed: confident label fixes, exact duplicates dropped")
        if fixed is not None:
            detail = f"{fixed.name} (tag fixed): {sum(fixed.stats.changes.values())} changes"
        else:
            fixed = raw
            detail = (
                f"nothing to commit: no label fix accepted, no duplicate dropped; "
                f"fixed = {raw.name} (tag fixed)"
            )
        ws.tag("fixed", fixed.name, force=True)
        done("commit fixed", detail, t0)

        # -- balance the train split -----------------------------------------------------
        t0 = time.perf_counter()
        plan = ws.balancing_plan(split="train")
        target = plan.target
        rare = [c for c in plan.classes if c.count < s.rare_fraction * target and c.needed > 0]
        synth_note = ""
        if s.generator and rare and s.synth_share > 0:
            # The generator is asked for a share of what the rarest class lacks,
            # as a per-class target; augmentation fills up to the largest class.
            synth_target = max(c.count + round(s.synth_share * (target - c.count)) for c in rare)
            synth_target = min(synth_target, target)
            names = [c.name for c in rare]
            on_gpu = _cuda(s.device)
            fit_steps = s.fit_steps
            if fit_steps is None:
                fit_steps = GPU_FIT_STEPS if on_gpu else CPU_FIT_STEPS
            step(
                f"[7/10] synthesizing rare classes {', '.join(names)} with {s.generator} "
                f"(up to {synth_target} each; {fit_steps} fit steps on "
                + ("the GPU)" if on_gpu else "the CPU: a short run)")
            )
            # the synthesis engine runs torch on CURATE_THREADS threads (default 1)
            with progress_bar(f"synth ({s.generator})") as bar:
                synth = ws.synthesize(
                    generator=s.generator,
                    classes=names,
                    target=synth_target,
                    fit_steps=fit_steps,
                    device=s.device,
                    seed=s.seed,
                    params=s.generator_params,
                    progress=bar,
                )
            per_class = ", ".join(f"{c.class_name}: {c.admitted}" for c in synth.classes)
            synth_note = (
                f"{s.generator} on {synth.device}: {synth.generated} generated, "
                f"{synth.admitted} admitted ({per_class}), {synth.rejected} rejected"
                + (
                    f" ({', '.join(f'{k}: {v}' for k, v in synth.rejected_reasons.items())})"
                    if synth.rejected_reasons
                    else ""
                )
            )
            done("synthesize rare classes", synth_note, t0)
        else:
            why = "no generator chosen" if not s.generator else "no rare class"
            skipped.append(f"synthesis: {why}")
            step(f"[7/10] synthesis skipped: {why}")
        t0 = time.perf_counter()
        step(f"        augmenting with the {s.augment_policy!r} preset up to {target} per class")
        with progress_bar(f"augment ({s.augment_policy})") as bar:
            aug = ws.augment(s.augment_policy, balance=True, target_per_class=target, progress=bar)
        done(
            "augment to balance",
            f"policy {aug.policy_name}: {aug.added} augmented train samples "
            f"({', '.join(f'{c.name}: {c.added}' for c in aug.classes if c.added)})"
            if aug.added
            else f"nothing to augment: every class has {target} train samples or more",
            t0,
        )

        # -- commit curated, export ---------------------------------------------------------
        t0 = time.perf_counter()
        step("[8/10] committing the curated version and exporting it")
        curated = _commit_if_changed(ws, "curated: train split balanced (synthesis + augmentation)")
        committed = curated is not None
        if curated is None:  # balancing added nothing: the latest version is the curated one
            curated = fixed
        ws.tag("curated", curated.name, force=True)
        # Curation may have changed nothing at all (clean, balanced data): then the
        # curated version holds the raw content and there is no raw -> curated comparison.
        unchanged = curated.hash == raw.hash
        exports_dir = out / "exports"
        for fmt in s.exports:
            with progress_bar(f"export {fmt}") as bar:
                result = ws.export(
                    curated.name, fmt, exports_dir / fmt, overwrite=True, progress=bar
                )
            outputs[f"export_{fmt}"] = result.out
        st = curated.stats
        detail = (
            f"{curated.name} (tag curated): {st.samples} samples "
            f"({', '.join(f'{n} {o}' for o, n in st.origins.items())}); exported "
            + ", ".join(s.exports)
        )
        if not committed:
            why = "curation changed nothing, curated = raw" if unchanged else "balancing added none"
            detail = f"nothing to commit ({why}); " + detail
        done("commit curated + export", detail, t0)

        # -- evaluate ----------------------------------------------------------------------
        t0 = time.perf_counter()
        evaluation = None
        if truth is not None:
            arms = (
                f"{raw.name} (raw = curated: curation changed nothing)"
                if unchanged
                else f"{raw.name}, {curated.name}"
            )
            step(
                f"[9/10] evaluating: the same classifier on {arms} and the "
                f"clean-label oracle, scored on {raw.name}/test with {Path(truth).name}"
            )
            with progress_bar("evaluate") as bar:
                # Equal content leaves nothing to compare: the one version is scored
                # against the oracle alone.
                evaluation = ws.evaluate(
                    curated.name,
                    against=None if unchanged else raw.name,
                    truth=truth,
                    classifier=s.classifier,
                    progress=bar,
                )
            eval_file = (out / "evaluation.json").absolute()
            eval_file.write_text(evaluation.model_dump_json(indent=2))
            outputs["evaluation"] = str(eval_file)
            acc = {a.role: a.accuracy for a in evaluation.arms}
            gap = evaluation.gap_closed_accuracy
            names = {"baseline": "raw", "candidate": "raw = curated" if unchanged else "curated"}
            names["oracle"] = "oracle"
            done(
                "evaluate",
                "held-out accuracy "
                + ", ".join(f"{names[r]} {acc[r]:.2%}" for r in names if r in acc)
                + ("" if unchanged else "; gap closed " + ("n/a" if gap is None else f"{gap:.0%}")),
                t0,
            )
        else:
            skipped.append("evaluation: no clean labels (pass --truth FILE)")
            step("[9/10] evaluation skipped: no clean-label file")

        # -- report ----------------------------------------------------------------------------
        t0 = time.perf_counter()
        step("[10/10] writing the report")
        report_steps = [st.model_dump() for st in steps]
        notes = [
            f"Order: the train/test split came first and was committed as {raw.name} (the "
            "given labels, nothing added): the raw baseline. Label fixes, duplicate drops, "
            f"synthesis and augmentation came after; the last two only add to train, so "
            f"{raw.name}/test stays the held-out set of every row of the evaluation.",
            "The scan saw every image with its given (noisy) labels, test images included, "
            "as a user's scan would; no clean label took part in curation.",
        ]
        if unchanged:
            notes.append(
                f"Curation changed nothing on this data (no confident label fix, no exact "
                f"duplicate, no class short of train samples): the curated version is the raw "
                f"one ({raw.name}), so there is no raw -> curated difference to measure"
                + (
                    "; the evaluation scores that one version against the clean-label oracle."
                    if evaluation is not None
                    else "."
                )
            )
        if evaluation is not None:
            notes.append(
                f"Clean labels ({Path(truth).name}) were read only by the evaluation: to score "
                f"{raw.name}/test and to train the oracle ({raw.name}/train with clean "
                "labels, nothing added), which measures what label noise costs."
            )
        for fmt in ("html", "md"):
            rep = ws.report(
                curated.name,
                against=None if unchanged else raw.name,
                out=out / f"report.{fmt}",
                evaluation=evaluation,
                steps=report_steps,
                notes=notes,
                title=f"curate demo: {raw.name}, raw = curated (curation changed nothing)"
                if unchanged
                else "curate demo: raw vs curated",
            )
            outputs[f"report_{fmt}"] = rep.path
        done("report", f"{out / 'report.html'} and report.md", t0)

    return DemoResult(
        workspace=str(out.absolute()),
        raw=raw.name,
        curated=curated.name,
        outputs=outputs,
        steps=steps,
        accuracy={a.role: a.accuracy for a in evaluation.arms} if evaluation else {},
        macro_f1={a.role: a.macro_f1 for a in evaluation.arms} if evaluation else {},
        gap_closed_accuracy=evaluation.gap_closed_accuracy if evaluation else None,
        gap_closed_macro_f1=evaluation.gap_closed_macro_f1 if evaluation else None,
        skipped=skipped,
        seconds=round(time.perf_counter() - started, 2),
    )


# Left in every folder the demo creates, so --overwrite can tell an earlier demo's
# folder (safe to replace) from a user's own workspace or files (never touched).
DEMO_MARKER = ".curate-demo"


def _prepare_out(out: Path, *, overwrite: bool) -> None:
    """Make ``out`` an empty folder marked as the demo's, or refuse in one line.

    An absent or empty folder is used as is. A folder with the demo's marker
    is replaced only with ``overwrite``. Anything else (a user's workspace, a
    folder of their files) is refused even with ``overwrite``: the demo never
    deletes what it did not make.
    """
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out} exists and is not a folder", hint="choose another --out")
    from curate.workspace_paths import inside_meta

    if inside_meta(out) is not None or inside_meta(out.resolve()) is not None:
        raise InvalidInput(
            f"refusing to write the demo into {out}: it is inside a workspace's .curate folder",
            hint="choose another --out",
        )
    if out.is_dir() and any(out.iterdir()):
        if not (out / DEMO_MARKER).is_file():
            what = "a workspace" if (out / ".curate").exists() else "files"
            raise WorkspaceExists(
                f"{out} already holds {what} that curate demo did not make; refusing to touch it",
                hint="choose a new or empty folder for --out "
                "(--overwrite replaces only an earlier demo's folder)",
            )
        if not overwrite:
            raise WorkspaceExists(
                f"{out} already holds a workspace from an earlier demo",
                hint="pass --overwrite to start over",
            )
        try:
            shutil.rmtree(out)
        except OSError as exc:
            raise InvalidInput(f"cannot replace {out}: {exc.strerror or exc}") from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / DEMO_MARKER).write_text(
            "Made by `curate demo`; `curate demo --overwrite` may replace this folder.\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise InvalidInput(f"cannot create {out}: {exc.strerror or exc}") from None


def _commit_if_changed(ws, message: str):
    """Commit the working state as a new version, or return None when it equals HEAD.

    A step may change nothing (clean labels, no duplicates, balanced classes):
    committing then would fail with "nothing to commit", and the demo goes on
    with the latest version instead.
    """
    if ws.diff("HEAD", None).identical:
        return None
    return ws.commit(message).version


def _cuda(device: str) -> bool:
    """Whether ``device`` means a GPU here (auto: when torch sees one)."""
    if device == "cpu":
        return False
    if device.startswith("cuda"):
        return True
    import torch  # the scan has imported it already

    return torch.cuda.is_available()


def _drop_exact_duplicates(ws) -> int:
    """Drop all but the first sample (by sid) of each exact-duplicate group of the latest scan.

    Byte-identical files are one sample already (ingest stores by content
    hash); the scan's exact duplicates are the same pixels in different bytes.
    """
    import json

    table = ws.findings("duplicate", as_arrow=True)
    groups: dict[str, list[int]] = {}
    for sid, details in zip(
        table.column("sid").to_pylist(), table.column("details").to_pylist(), strict=True
    ):
        group = (json.loads(details) if details else {}).get("group")
        groups.setdefault(str(group if group is not None else sid), []).append(int(sid))
    extra = [sid for members in groups.values() for sid in sorted(members)[1:]]
    if extra:
        ws.drop(extra, reason="exact duplicate (same pixels as a kept sample)")
    return len(extra)
