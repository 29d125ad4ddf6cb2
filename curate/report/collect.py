"""Gather what a report shows from the workspace (versions, diff, findings, lineage).

Everything here is read through the public :class:`curate.api.Workspace`
facade and the version views; the renderers (:mod:`.html`, :mod:`.markdown`)
only format this data.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from curate.core.versions import VersionDiff, VersionInfo
from curate.report import images
from curate.report.models import ReportRequest, ReportStep

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.api import Workspace
    from curate.evaluate.models import EvaluationResult

ORIGINS = ("original", "augmented", "synthetic")


@dataclass
class Picture:
    """A PNG with a caption (a thumbnail or a grid)."""

    name: str  # file stem for Markdown assets
    png: bytes
    caption: list[str]


@dataclass
class IssueRow:
    picture: Picture
    kind: str
    sample_id: str
    source: str | None
    given: str | None
    suggested: str | None
    score: float | None
    decision: str


@dataclass
class Decision:
    op: str
    label_source: str
    count: int
    reasons: list[tuple[str, int]]
    moves: list[tuple[str, int]] = field(default_factory=list)  # "7 -> 1" label changes


@dataclass
class ReportData:
    title: str
    workspace: str
    generated_at: str
    version: VersionInfo
    against: VersionInfo | None
    classes: list[str]
    # class -> origin -> count, for all splits and for the train split
    after_all: dict[str, dict[str, int]]
    after_train: dict[str, dict[str, int]]
    before_all: dict[str, int]
    before_train: dict[str, int]
    scan: dict[str, Any] | None
    issue_counts: dict[str, int]
    top_issues: list[IssueRow]
    decisions: list[Decision]
    diff: VersionDiff | None
    grids: list[Picture]
    lineage: dict[str, Any]
    evaluation: EvaluationResult | None
    steps: list[ReportStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def made(self) -> dict[str, dict[str, int]]:
        """class -> {augmented, synthetic} in the version."""
        return {
            c: {o: self.after_all.get(c, {}).get(o, 0) for o in ("augmented", "synthetic")}
            for c in self.classes
        }


def _counts(table: pa.Table) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    all_: dict[str, Counter] = {}
    train: dict[str, Counter] = {}
    for label, split, origin in zip(
        table.column("label").to_pylist(),
        table.column("split").to_pylist(),
        table.column("origin").to_pylist(),
        strict=True,
    ):
        key = label if label is not None else "(unlabeled)"
        all_.setdefault(key, Counter())[origin] += 1
        if split == "train":
            train.setdefault(key, Counter())[origin] += 1
    return {k: dict(v) for k, v in all_.items()}, {k: dict(v) for k, v in train.items()}


_PARENS = re.compile(r"\s*\([^)]*\)")
_QUOTED = re.compile(r"'[^']*'")


def reason_kind(reason: str | None) -> str:
    """A reason without its per-sample details, so equal decisions group together."""
    if not reason:
        return "(no reason given)"
    text = _QUOTED.sub("…", _PARENS.sub("", reason))
    return re.sub(r"\s+", " ", text).strip() or reason


def _decisions(ws: Workspace, lo: int, hi: int) -> list[Decision]:
    rows = ws.catalog().rows(
        "SELECT op, coalesce(label_source, ''), reason, count(*) FROM changes "
        "WHERE version_id > ? AND version_id <= ? GROUP BY ALL",
        [lo, hi],
    )
    grouped: dict[tuple[str, str], Counter] = {}
    for op, source, reason, n in rows:
        grouped.setdefault((op, source), Counter())[reason_kind(reason)] += int(n)
    order = {"relabel": 0, "drop": 1, "restore": 2, "add": 3, "move": 4}
    out = [
        Decision(op, source, sum(c.values()), c.most_common(4))
        for (op, source), c in grouped.items()
    ]
    return sorted(out, key=lambda d: (order.get(d.op, 9), -d.count))


def _scan_summary(
    ws: Workspace, run_ids: list[int]
) -> tuple[dict[str, Any] | None, dict[str, int]]:
    runs = {r.run_id: r for r in ws.scan_runs()}
    if not runs:
        return None, {}
    run_id = max(run_ids) if run_ids else max(runs)
    run = runs[run_id]
    counts = dict(
        ws.catalog().rows(
            "SELECT kind, count(*) FILTER (WHERE is_issue) FROM findings WHERE run_id = ? "
            "GROUP BY kind ORDER BY kind",
            [run_id],
        )
    )
    return run.model_dump(mode="json"), {k: int(v) for k, v in counts.items()}


def collect(
    ws: Workspace,
    request: ReportRequest,
    *,
    evaluation: EvaluationResult | None = None,
    steps: list[ReportStep] | None = None,
    notes: list[str] | None = None,
) -> ReportData:
    version = ws.version(request.version)
    if request.against is not None:
        against = ws.version(request.against)
    else:
        first = min((v.version_id for v in ws.log()), default=version.version_id)
        against = ws.version(first) if first != version.version_id else None
    classes = [name for _, name in ws.classes()]
    side = request.thumb_size

    members = version.samples()
    after_all, after_train = _counts(members)
    before_all: dict[str, int] = {}
    before_train: dict[str, int] = {}
    diff = None
    decisions: list[Decision] = []
    if against is not None:
        b_all, b_train = _counts(against.samples())
        before_all = {k: sum(v.values()) for k, v in b_all.items()}
        before_train = {k: sum(v.values()) for k, v in b_train.items()}
        diff = ws.diff(against.name, version.name)
        if against.version_id < version.version_id:
            decisions = _decisions(ws, against.version_id, version.version_id)
            moves: dict[str, Counter] = {}
            for r in diff.relabeled:
                moves.setdefault(r.label_source or "", Counter())[f"{r.from_} -> {r.to}"] += 1
            for d in decisions:
                if d.op == "relabel":
                    d.moves = moves.get(d.label_source, Counter()).most_common(6)

    # -- the scan behind the decisions ------------------------------------------------
    run_ids = sorted({r.run_id for r in (diff.relabeled if diff else []) if r.run_id is not None})
    scan, issue_counts = _scan_summary(ws, run_ids)
    top: list[IssueRow] = []
    if scan is not None and request.top_issues:
        relabeled = {r.sample_id: r.to for r in (diff.relabeled if diff else [])}
        removed = {s.sample_id for s in (diff.removed if diff else [])}
        label_of = dict(
            zip(
                members.column("sample_id").to_pylist(),
                members.column("label").to_pylist(),
                strict=True,
            )
        )
        found = ws.findings("label", run_id=scan["run_id"], limit=request.top_issues)
        for f in found:
            if f.sample_id in removed:
                decision = f"dropped in {version.name}"
            elif f.sample_id in relabeled:
                decision = f"relabeled to {relabeled[f.sample_id]!r} in {version.name}"
            elif f.sample_id in label_of:
                decision = f"kept as {label_of[f.sample_id]!r} in {version.name}"
            else:
                decision = f"not in {version.name}"
            png = images.png_bytes(images.thumbnail(ws.read_bytes(f.sid), side))
            confidence = None if f.score is None else 1.0 - f.score
            top.append(
                IssueRow(
                    picture=Picture(
                        name=f"issue-{f.sample_id[:12]}",
                        png=png,
                        caption=[
                            f"given {f.given_label!r} -> suggested {f.suggested_label!r}",
                            f"confidence {confidence:.2f}" if confidence is not None else "",
                            decision,
                        ],
                    ),
                    kind=f.kind.value,
                    sample_id=f.sample_id,
                    source=f.source,
                    given=f.given_label,
                    suggested=f.suggested_label,
                    score=f.score,
                    decision=decision,
                )
            )

    # -- what was made, with examples -----------------------------------------------------
    grids: list[Picture] = []
    lineage: dict[str, Any] = {
        "origins": dict(sorted(Counter(members.column("origin").to_pylist()).items()))
    }
    made_rows: dict[tuple[str, str], list[int]] = {}
    policies: Counter = Counter()
    generators: Counter = Counter()
    parents: set[str] = set()
    for i, (origin, label, recipe, par) in enumerate(
        zip(
            members.column("origin").to_pylist(),
            members.column("label").to_pylist(),
            members.column("recipe").to_pylist(),
            members.column("parents").to_pylist(),
            strict=True,
        )
    ):
        if origin == "original":
            continue
        made_rows.setdefault((origin, label or "(unlabeled)"), []).append(i)
        parents.update(par or [])
        doc = json.loads(recipe) if recipe else {}
        if origin == "augmented":
            policies[doc.get("policy", "?")] += 1
        else:
            generators[doc.get("generator", "?")] += 1
    if policies:
        names = {p["hash"]: p["name"] for p in ws.policies()}
        lineage["policies"] = {
            f"{names.get(h, 'unknown')} ({h[:12]})": n for h, n in policies.most_common()
        }
    if generators:
        lineage["generators"] = dict(generators.most_common())
    lineage["parents"] = len(parents)
    if request.examples_per_class:
        packs = members.column("pack").to_pylist()
        offsets = members.column("pack_offset").to_pylist()
        lengths = members.column("nbytes").to_pylist()
        order = {c: i for i, c in enumerate(classes)}
        for (origin, label), rows in sorted(
            made_rows.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 1 << 30))
        ):
            tiles = [
                images.thumbnail(ws.objects.read(packs[i], offsets[i], lengths[i]), side)
                for i in rows[: request.examples_per_class]
            ]
            grids.append(
                Picture(
                    name=f"{origin}-{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}",
                    png=images.png_bytes(images.grid(tiles, columns=8)),
                    caption=[f"class {label!r}: {len(rows)} {origin}", f"{len(tiles)} shown"],
                )
            )

    title = request.title or (
        f"curate report: {version.name} against {against.name}"
        if against is not None
        else f"curate report: {version.name}"
    )
    return ReportData(
        title=title,
        workspace=str(ws.root),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=version.info,
        against=against.info if against is not None else None,
        classes=classes,
        after_all=after_all,
        after_train=after_train,
        before_all=before_all,
        before_train=before_train,
        scan=scan,
        issue_counts=issue_counts,
        top_issues=top,
        decisions=decisions,
        diff=diff,
        grids=grids,
        lineage=lineage,
        evaluation=evaluation,
        steps=list(steps or []),
        notes=list(notes or []),
    )
