"""Sentences and tables both renderers share: the numbers, said the same way in HTML and Markdown."""

from __future__ import annotations

from curate.evaluate.models import EvaluationResult
from curate.report.collect import ReportData

ROLE_NAMES = {"baseline": "raw (baseline)", "candidate": "curated", "oracle": "clean-label oracle"}


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def headline(data: ReportData) -> list[tuple[str, str]]:
    """(label, value) pairs for the summary box."""
    v = data.version
    tags = f", tag {', '.join(v.tags)}" if v.tags else ""
    out = [("version", f"{v.name} ({v.hash[:12]}{tags})")]
    if data.against is not None:
        out.append(("compared with", f"{data.against.name} ({data.against.hash[:12]})"))
        out.append(("samples", f"{data.against.stats.samples} -> {v.stats.samples}"))
    else:
        out.append(("samples", str(v.stats.samples)))
    if data.diff is not None:
        s = data.diff.summary
        out.append(
            (
                "changes",
                ", ".join(f"{n} {k}" for k, n in s.items() if n) or "none",
            )
        )
    made = data.lineage.get("origins", {})
    if made.get("augmented") or made.get("synthetic"):
        out.append(
            (
                "made",
                f"{made.get('augmented', 0)} augmented, {made.get('synthetic', 0)} synthetic",
            )
        )
    ev = data.evaluation
    if ev is not None:
        base, cand, orac = ev.arm("baseline"), ev.arm("candidate"), ev.arm("oracle")
        if base is not None and cand is not None:
            out.append(("held-out accuracy", f"{pct(base.accuracy)} -> {pct(cand.accuracy)}"))
        if orac is not None:
            out.append(("oracle accuracy", pct(orac.accuracy)))
        if ev.gap_closed_accuracy is not None:
            out.append(("accuracy gap closed", pct(ev.gap_closed_accuracy, 0)))
    return out


def evaluation_sentence(ev: EvaluationResult) -> str:
    base, cand, orac = ev.arm("baseline"), ev.arm("candidate"), ev.arm("oracle")
    parts = []
    for arm in (base, cand, orac):
        if arm is None:
            continue
        parts.append(
            f"{ROLE_NAMES[arm.role]} {arm.version}: accuracy {pct(arm.accuracy)}, "
            f"macro-F1 {pct(arm.macro_f1)}"
        )
    text = "; ".join(parts) + "."
    if ev.gap_closed_accuracy is not None:
        text += (
            f" Curation closed {pct(ev.gap_closed_accuracy, 0)} of the raw -> oracle accuracy gap"
            f" ({pct(ev.gap_closed_macro_f1, 0)} of the macro-F1 gap)."
        )
    return text


def protocol(ev: EvaluationResult) -> list[str]:
    """How the numbers were made, so a reader can judge whether the comparison is fair."""
    c = ev.classifier
    held_from = ev.baseline or ev.candidate
    lines = [
        f"Held-out set: the {ev.test_samples} original images of {held_from}/{ev.eval_split}, "
        f"scored with {ev.test_labels}. The same images score every row.",
        f"Classifier: the same fixed MLP for every row ({c.layers} hidden layers of {c.hidden}, "
        f"Adam lr {c.lr:g}, {c.epochs} epochs, batch {c.batch_size}) on "
        f"{ev.image_size[0]}x{ev.image_size[1]} {ev.image_mode} pixels, trained with seeds "
        f"0..{c.seeds - 1} on one CPU thread; scores are the mean over seeds (± std).",
        f"Each row trains on its version's {ev.train_split} split with that version's labels.",
    ]
    if ev.arm("oracle") is not None:
        orac = ev.arm("oracle")
        lines.append(
            f"The oracle trains on {orac.version}/{ev.train_split} with the clean labels "
            f"({orac.relabeled_from_truth} of its {orac.train_samples} training labels differ "
            "from the given ones): what the raw images are worth without label noise."
        )
    if ev.gap_closed_accuracy is not None:
        lines.append(
            "Gap closed = (curated - raw) / (oracle - raw); above 100% means the curated "
            "version beat the oracle (e.g. by balancing the rare classes)."
        )
    if ev.truth_relabels:
        lines.append(
            f"{ev.truth_relabels} held-out images carry a different clean label than their "
            f"given one in {held_from}: they are scored with the clean label."
        )
    if ev.excluded:
        lines.append(
            "Left out of the held-out set: "
            + "; ".join(f"{n} {why}" for why, n in ev.excluded.items())
            + "."
        )
    lines += [f"Note: {w}" for w in ev.warnings if not w.startswith("held-out samples left out")]
    return lines


def evaluation_rows(ev: EvaluationResult) -> list[list[str]]:
    """Rows of the main table: role, version, labels, train samples, accuracy, macro-F1."""
    rows = []
    for arm in ev.arms:
        rows.append(
            [
                ROLE_NAMES[arm.role],
                arm.version,
                arm.labels,
                f"{arm.train_samples}"
                + (
                    f" ({', '.join(f'{n} {o}' for o, n in arm.train_origins.items() if o != 'original')})"
                    if any(o != "original" for o in arm.train_origins)
                    else ""
                ),
                f"{pct(arm.accuracy, 2)} ± {pct(arm.accuracy_std, 2)}",
                f"{pct(arm.macro_f1, 2)} ± {pct(arm.macro_f1_std, 2)}",
            ]
        )
    return rows


EVALUATION_HEADER = ["training data", "version", "labels", "train samples", "accuracy", "macro-F1"]


def recall_rows(ev: EvaluationResult) -> tuple[list[str], list[list[str]]]:
    header = ["class", "held-out"] + [f"{ROLE_NAMES[a.role]} recall" for a in ev.arms]
    rows = []
    for name, n in ev.test_by_class.items():
        rows.append([name, str(n)] + [pct(a.per_class_recall.get(name), 1) for a in ev.arms])
    return header, rows


def class_rows(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Per class: before (all / train), after (all / train), made."""
    a, b = data.against.name if data.against else None, data.version.name
    header = ["class"]
    if a:
        header += [f"{a} all", f"{a} train"]
    header += [f"{b} all", f"{b} train", "augmented", "synthetic"]
    rows = []
    names = list(data.classes) + [c for c in data.after_all if c not in data.classes]
    for c in names:
        after = data.after_all.get(c, {})
        train = data.after_train.get(c, {})
        row = [c]
        if a:
            row += [str(data.before_all.get(c, 0)), str(data.before_train.get(c, 0))]
        row += [
            str(sum(after.values())),
            str(sum(train.values())),
            str(after.get("augmented", 0)),
            str(after.get("synthetic", 0)),
        ]
        rows.append(row)
    return header, rows


def decision_rows(data: ReportData) -> list[list[str]]:
    verbs = {
        "relabel": "relabeled",
        "drop": "dropped",
        "restore": "restored",
        "add": "added",
        "move": "moved to a split",
    }
    rows = []
    for d in data.decisions:
        who = f" ({d.label_source})" if d.label_source and d.op == "relabel" else ""
        why = "; ".join(f"{r} ×{n}" if n > 1 else r for r, n in d.reasons)
        if d.moves:
            why += " (most common: " + ", ".join(f"{m} ×{n}" for m, n in d.moves) + ")"
        rows.append([verbs.get(d.op, d.op) + who, str(d.count), why])
    return rows
