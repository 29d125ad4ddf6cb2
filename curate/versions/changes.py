"""Working changes: relabel, drop, restore, accept scan suggestions, reset.

Each edit becomes a row in ``changes`` (pending until a commit) with when,
why (``reason``) and, for accepted suggestions, which scan run prompted it.
Edits that would not change anything (relabel to the current label, drop a
dropped sample) record nothing and are counted as ``unchanged``; edits that
undo pending ones (restore a sample dropped since the last commit, relabel
it back) cancel out with them, so no change is left to commit. Augmented
samples follow their parent: relabeled with it (while they carry the label
it had), dropped with it, and restored with it when they were dropped with it;
resetting a parent forgets what its copies did by following it.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable

import pyarrow as pa

from curate.core.models import LabelSource
from curate.core.versions import AcceptReport, ChangeReport
from curate.errors import InvalidInput, NotFound
from curate.outputs import check_name
from curate.store import samples_repo, worktree_repo
from curate.store.catalog import Catalog
from curate.store.changes_repo import CHANGE_SCHEMA, record_changes


def _table(rows: list[dict]) -> pa.Table:
    cols = {name: [r.get(name) for r in rows] for name in CHANGE_SCHEMA.names}
    return pa.table(cols, schema=CHANGE_SCHEMA)


def _record(
    cat: Catalog, op: str, rows: list[dict], details: list[dict], *, unchanged: int
) -> ChangeReport:
    """Record ``rows`` (one per detail) and report them.

    Edits that bring a sample back to its committed state cancel out with
    the pending ones before them (:func:`worktree_repo.settle`).
    """
    record_changes(cat, _table(rows))
    cancelled = worktree_repo.settle(cat, [r["sid"] for r in rows])
    return ChangeReport(
        op=op,
        recorded=len(rows),
        unchanged=unchanged,
        cancelled=cancelled,
        followed=sum(1 for d in details if "parent" in d),
        samples=[d["sample_id"] for d in details],
        details=details,
        pending=worktree_repo.pending_count(cat),
    )


def _children(
    cat: Catalog, parents: dict[int, str], asked: list[int], follows: Callable[[dict, int], bool]
) -> list[tuple[dict, int]]:
    """(child, parent sid) for the augmented children of ``parents`` (sid -> sample_id)
    that ``follows(child, parent sid)`` accepts; samples ``asked`` for are not children.

    An augmented sample is its parent's pixels under a label-preserving
    policy: a parent found mislabelled, or dropped as a duplicate or a bad
    image, takes its copies with it, or the copies would keep the problem
    the fix removed (once per copy).
    """
    by_id = {sample_id: sid for sid, sample_id in parents.items()}
    seen = set(asked)
    out = []
    for kid in worktree_repo.augmented_children(cat, list(by_id)):
        parent = by_id[kid["parent"]]
        if kid["sid"] not in seen and follows(kid, parent):
            seen.add(kid["sid"])
            out.append((kid, parent))
    return out


def _follow_reason(parent_id: str, reason: str | None) -> str:
    return f"follows its parent {parent_id[:12]}" + (f": {reason}" if reason else "")


def _class_name(label: object) -> str:
    """``label`` as a class name: class names are strings, and an int is its decimal
    digits (``relabel(sid, 3)`` means class '3', as on the command line)."""
    if isinstance(label, str):
        return label
    if isinstance(label, numbers.Integral) and not isinstance(label, bool):
        return str(int(label))
    raise InvalidInput(
        f"label must be a class name (a string), got {type(label).__name__} {label!r}"
    )


def _class_id(cat: Catalog, label: str, *, create: bool) -> int:
    known = dict((n, i) for i, n in samples_repo.classes(cat))
    if label in known:
        return known[label]
    if not create:
        raise NotFound(
            f"no class named {label!r}",
            hint=f"classes: {', '.join(known) or 'none'}; "
            "pass new_class=True (--new-class) to create it",
        )
    if not label.strip():
        raise InvalidInput("a class name cannot be empty")
    # Exports make class names folder names (imagefolder: split/class/...).
    check_name(label, "class", hint="pick a name without '/', '\\' or surrounding spaces")
    return samples_repo.get_or_create_classes(cat, [label])[label]


def relabel(
    cat: Catalog,
    sids: list[int],
    label: str,
    *,
    reason: str | None = None,
    create_class: bool = False,
    label_source: str = LabelSource.HUMAN.value,
) -> ChangeReport:
    """Give ``sids`` the class ``label`` (they must be live); their augmented copies that
    still carry the label the parent had follow it."""
    label = _class_name(label)
    info = worktree_repo.sample_summary(cat, sids)
    dropped = [info[s]["sample_id"][:12] for s in sids if not info[s]["live"]]
    if dropped:
        raise InvalidInput(
            f"sample {dropped[0]} is not in the working state (dropped)",
            hint="restore it first with `curate restore`",
        )
    class_id = _class_id(cat, label, create=create_class)
    todo = [s for s in dict.fromkeys(sids) if info[s]["class_id"] != class_id]
    rows = [
        {
            "op": "relabel",
            "sid": s,
            "class_id": class_id,
            "label_source": label_source,
            "reason": reason,
            "details": json.dumps({"from": info[s]["label"]}),
        }
        for s in todo
    ]
    details = [
        {"sample_id": info[s]["sample_id"], "from": info[s]["label"], "to": label} for s in todo
    ]
    kids = _children(
        cat,
        {s: info[s]["sample_id"] for s in todo},
        sids,
        lambda kid, parent: kid["live"] and kid["class_id"] == info[parent]["class_id"],
    )
    for kid, parent in kids:
        parent_id, was = info[parent]["sample_id"], info[parent]["label"]
        rows.append(
            {
                "op": "relabel",
                "sid": kid["sid"],
                "class_id": class_id,
                "label_source": label_source,
                "reason": _follow_reason(parent_id, reason),
                "details": json.dumps({"from": was, "parent": parent_id}),
            }
        )
        details.append(
            {"sample_id": kid["sample_id"], "from": was, "to": label, "parent": parent_id}
        )
    return _record(cat, "relabel", rows, details, unchanged=len(set(sids)) - len(todo))


def drop(cat: Catalog, sids: list[int], *, reason: str | None = None) -> ChangeReport:
    """Take ``sids`` out of the working state (kept in the catalog; restorable), with
    their augmented copies."""
    info = worktree_repo.sample_summary(cat, sids)
    todo = [s for s in dict.fromkeys(sids) if info[s]["live"]]
    rows = [{"op": "drop", "sid": s, "reason": reason} for s in todo]
    details = [
        {"sample_id": info[s]["sample_id"], "label": info[s]["label"], "split": info[s]["split"]}
        for s in todo
    ]
    kids = _children(cat, {s: info[s]["sample_id"] for s in todo}, sids, lambda kid, _: kid["live"])
    if kids:
        about = worktree_repo.sample_summary(cat, [kid["sid"] for kid, _ in kids])
    for kid, parent in kids:
        parent_id = info[parent]["sample_id"]
        rows.append(
            {
                "op": "drop",
                "sid": kid["sid"],
                "reason": _follow_reason(parent_id, reason),
                "details": json.dumps({"parent": parent_id}),
            }
        )
        now = about[kid["sid"]]
        details.append(
            {
                "sample_id": kid["sample_id"],
                "label": now["label"],
                "split": now["split"],
                "parent": parent_id,
            }
        )
    return _record(cat, "drop", rows, details, unchanged=len(set(sids)) - len(todo))


def restore(cat: Catalog, sids: list[int], *, reason: str | None = None) -> ChangeReport:
    """Bring dropped ``sids`` back with the label and split they had last, with the
    augmented copies that were dropped with them."""
    info = worktree_repo.sample_summary(cat, sids)
    todo = [s for s in dict.fromkeys(sids) if not info[s]["live"]]
    kids = _children(
        cat,
        {s: info[s]["sample_id"] for s in todo},
        sids,
        lambda kid, parent: not kid["live"] and kid["dropped_with"] == info[parent]["sample_id"],
    )
    parent_of = {kid["sid"]: info[parent]["sample_id"] for kid, parent in kids}
    ids = {**{s: info[s]["sample_id"] for s in todo}, **{k["sid"]: k["sample_id"] for k, _ in kids}}
    known = worktree_repo.last_known(cat, list(ids))
    names = dict(samples_repo.classes(cat))
    rows, details = [], []
    for s, sample_id in ids.items():
        parent_id = parent_of.get(s)
        rows.append(
            {
                "op": "restore",
                "sid": s,
                "class_id": known[s][0],
                "split": known[s][1],
                "label_source": LabelSource.HUMAN.value,
                "reason": reason if parent_id is None else _follow_reason(parent_id, reason),
                "details": None if parent_id is None else json.dumps({"parent": parent_id}),
            }
        )
        detail = {"sample_id": sample_id, "label": names.get(known[s][0]), "split": known[s][1]}
        details.append(detail if parent_id is None else {**detail, "parent": parent_id})
    return _record(cat, "restore", rows, details, unchanged=len(set(sids)) - len(todo))


def reset(cat: Catalog, sids: list[int] | None = None) -> ChangeReport:
    """Forget pending changes: all of them, or those of ``sids`` with the changes their
    augmented copies made by following them (a copy's own edits stay).

    ``recorded`` counts every change forgotten; ``followed``, those of them
    that followed a parent; ``cancelled``, a copy's remaining edits that
    changed nothing once its follow was gone (and went too).
    """
    n, followed, copies = worktree_repo.reset(cat, sids)
    cancelled = worktree_repo.settle(cat, copies)
    return ChangeReport(
        op="reset",
        recorded=n + cancelled,
        cancelled=cancelled,
        followed=followed,
        pending=worktree_repo.pending_count(cat),
    )


def confidence(score: float | None) -> float | None:
    """How sure a scan is that a label is wrong: 1 - label quality score.

    Scans store cleanlab's label quality score (0..1, lower = more
    suspicious), so a finding with score 0.05 has confidence 0.95.
    """
    return None if score is None else round(1.0 - float(score), 6)


def accept_labels(
    cat: Catalog,
    *,
    sids: list[int] | None = None,
    run_id: int | None = None,
    min_confidence: float | None = None,
    limit: int | None = None,
    dry_run: bool = False,
) -> AcceptReport:
    """Relabel samples as the latest scan with label findings (or ``run_id``) suggests.

    Most suspicious first. Skips samples no longer live, samples already
    carrying the suggested label, and samples a human relabeled since
    (pending human relabels win over suggestions). ``sids`` accepts only
    those samples' suggestions (each must have one in the run); naming a
    sample is a human decision, so a pending hand relabel does not skip it.
    """
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise InvalidInput(f"--min-confidence must be between 0 and 1, not {min_confidence}")
    if limit is not None and limit < 0:
        raise InvalidInput("--limit must be 0 or more")
    if run_id is None:
        run_id = worktree_repo.latest_run_with(cat, ["label"])
        if run_id is None:
            raise NotFound("no label findings to accept", hint="run a scan first: `curate scan`")
    elif not worktree_repo.run_is_done(cat, run_id):
        raise NotFound(
            f"no finished scan run {run_id}", hint="`curate scan` prints the id of its run"
        )
    found = worktree_repo.label_suggestions(cat, run_id).to_pylist()
    if sids is not None:
        named = set(sids)
        found = [f for f in found if int(f["sid"]) in named]
        missing = named - {int(f["sid"]) for f in found}
        if missing:
            ref = worktree_repo.sample_summary(cat, [min(missing)])[min(missing)]["sample_id"]
            raise NotFound(
                f"sample {ref[:12]} has no label suggestion in scan run {run_id}",
                hint="`curate issues --type label` lists the suggestions",
            )
        human: set[int] = set()
    else:
        human = worktree_repo.pending_sids(cat, op="relabel", label_source=LabelSource.HUMAN.value)
    counts = dict.fromkeys(["not_live", "same", "human", "low", "limit"], 0)
    rows: list[dict] = []
    shown: list[dict] = []
    seen: set[int] = set()
    for f in found:
        sid = int(f["sid"])
        if sid in seen:
            continue
        seen.add(sid)
        conf = confidence(f["score"])
        if not f["live"]:
            counts["not_live"] += 1
        elif f["current_class_id"] == f["suggested_class_id"]:
            counts["same"] += 1
        elif sid in human:
            counts["human"] += 1
        elif min_confidence is not None and (conf is None or conf < min_confidence):
            counts["low"] += 1
        elif limit is not None and len(rows) >= limit:
            counts["limit"] += 1
        else:
            # significant digits: label scores of clear errors are ~1e-10, not 0
            score = None if f["score"] is None else float(f"{float(f['score']):.4g}")
            rows.append(
                {
                    "op": "relabel",
                    "sid": sid,
                    "class_id": int(f["suggested_class_id"]),
                    "label_source": LabelSource.ACCEPTED_SUGGESTION.value,
                    "reason": f"scan run {run_id}: label issue (score {score}, "
                    f"confidence {conf}) suggests {f['suggested']!r}",
                    "run_id": run_id,
                    "details": json.dumps(
                        {"from": f["current"], "score": score, "confidence": conf}
                    ),
                }
            )
            shown.append(
                {
                    "sid": sid,
                    "sample_id": f["sample_id"],
                    "from": f["current"],
                    "to": f["suggested"],
                    "score": score,
                    "confidence": conf,
                }
            )
    sources = worktree_repo.sample_summary(cat, [r["sid"] for r in shown])
    for r in shown:  # the path, as `curate issues --json` gives it
        r["source"] = sources.get(r["sid"], {}).get("source")
    # Augmented copies that carry the label their parent had take the suggestion too.
    was = {int(f["sid"]): f for f in found}
    kids = _children(
        cat,
        {r["sid"]: was[r["sid"]]["sample_id"] for r in rows},
        [r["sid"] for r in rows],
        lambda kid, parent: kid["live"] and kid["class_id"] == was[parent]["current_class_id"],
    )
    to = {r["sid"]: r for r in rows}
    for kid, parent in kids:
        parent_id = was[parent]["sample_id"]
        rows.append(
            {
                **to[parent],
                "sid": kid["sid"],
                "reason": _follow_reason(parent_id, to[parent]["reason"]),
                "details": json.dumps({"from": was[parent]["current"], "parent": parent_id}),
            }
        )
    if not dry_run:
        record_changes(cat, _table(rows))
        worktree_repo.settle(cat, [r["sid"] for r in rows])
    return AcceptReport(
        run_id=run_id,
        candidates=len(seen),
        accepted=len(rows) - len(kids),
        followed=len(kids),
        skipped_not_live=counts["not_live"],
        skipped_same_label=counts["same"],
        skipped_human_edit=counts["human"],
        skipped_low_confidence=counts["low"],
        skipped_over_limit=counts["limit"],
        dry_run=dry_run,
        relabels=shown,
        pending=worktree_repo.pending_count(cat),
    )
