"""Messages up: ``...Requested`` from screens to the app, past tense back.

A screen never calls the library. It posts a ``...Requested`` message; the app
(:mod:`curate.tui.app`) starts one thread worker whose body is one API call and
posts the past-tense message (``FindingsLoaded``, ``ChangeRecorded``...) back
to the screen that asked, whose handler sets attributes on its widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump


class Requested(Message):
    """Base of every request: ``reply_to`` receives the past-tense answer."""

    def __init__(self, reply_to: MessagePump) -> None:
        super().__init__()
        self.reply_to = reply_to


# -- jobs (app-level) ------------------------------------------------------------------
@dataclass
class JobState:
    """What the job panel shows about one running worker."""

    job_id: int
    description: str
    done: int = 0
    total: int | None = None
    message: str = ""


class JobProgressed(Message):
    def __init__(self, job_id: int, done: int, total: int | None, message: str) -> None:
        super().__init__()
        self.job_id, self.done, self.total, self.message = job_id, done, total, message


class JobEnded(Message):
    """A job finished, failed or was cancelled (the panel forgets it)."""

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id


class JobFailed(Message):
    """An API call raised: the app's one error handler renders it."""

    def __init__(self, description: str, error: BaseException) -> None:
        super().__init__()
        self.description = description
        self.error = error


# -- overview --------------------------------------------------------------------------
class OverviewRequested(Requested):
    pass


@dataclass
class OverviewData:
    """Everything the Overview shows, read in one worker."""

    workspace: str
    status: Any  # WorkspaceStatus
    head: Any | None  # VersionInfo of the newest version, None before the first commit
    pending: int
    plan: Any | None  # BalancingPlan, None when nothing is labeled
    issues: dict[str, int] = field(default_factory=dict)
    scan_run: int | None = None
    extractors: list[str] = field(default_factory=list)


class OverviewLoaded(Message):
    def __init__(self, data: OverviewData) -> None:
        super().__init__()
        self.data = data


class ScanRequested(Requested):
    def __init__(self, reply_to: MessagePump, **options: Any) -> None:
        super().__init__(reply_to)
        self.options = options


class ScanFinished(Message):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


# -- review ----------------------------------------------------------------------------
class FindingsRequested(Requested):
    def __init__(
        self, reply_to: MessagePump, *, kind: str | None, classes: list[str] | None, limit: int
    ) -> None:
        super().__init__(reply_to)
        self.kind, self.classes, self.limit = kind, classes, limit


class FindingsLoaded(Message):
    """``scanned`` is False before the first scan: an empty state, not an error."""

    def __init__(self, findings: list[Any], classes: list[str], scanned: bool = True) -> None:
        super().__init__()
        self.findings = findings
        self.classes = classes
        self.scanned = scanned


class PreviewRequested(Requested):
    """Decode a sample (and the samples it names as evidence) for the preview pane."""

    def __init__(self, reply_to: MessagePump, sid: int, neighbours: list[int]) -> None:
        super().__init__(reply_to)
        self.sid, self.neighbours = sid, neighbours


class PreviewDecoded(Message):
    def __init__(self, sid: int, image: Any, neighbours: list[tuple[int, Any]]) -> None:
        super().__init__()
        self.sid, self.image, self.neighbours = sid, image, neighbours


@dataclass(frozen=True)
class Decision:
    """One review decision: ``action`` is accept | relabel | drop | restore.

    ``accept`` takes the suggestion of scan run ``run_id`` (``ws.accept``, as
    ``curate accept --type label SAMPLE`` does). ``undo_of`` is set when the
    decision records the inverse of an earlier one.
    """

    action: str
    sid: int
    sample_id: str
    label: str | None = None
    reason: str | None = None
    undo_of: Decision | None = None
    run_id: int | None = None


class DecisionRequested(Requested):
    def __init__(self, reply_to: MessagePump, decision: Decision) -> None:
        super().__init__(reply_to)
        self.decision = decision


class ChangeRecorded(Message):
    """``report``: a ChangeReport, or an AcceptReport for ``accept``."""

    def __init__(self, decision: Decision, report: Any) -> None:
        super().__init__()
        self.decision, self.report = decision, report

    @property
    def recorded(self) -> int:
        """Changes the decision recorded (0: the sample was already in that state)."""
        r = self.report
        return r.accepted if hasattr(r, "accepted") else r.recorded

    @property
    def label_before(self) -> str | None:
        """For accept and relabel: the label the sample had before (what undo restores)."""
        rows = getattr(self.report, "relabels", None) or getattr(self.report, "details", None)
        return rows[0].get("from") if rows else None


class AcceptAllRequested(Requested):
    """``dry_run``: count what would be accepted (the screen asks before the real run)."""

    def __init__(
        self, reply_to: MessagePump, *, min_confidence: float | None = None, dry_run: bool = False
    ) -> None:
        super().__init__(reply_to)
        self.min_confidence = min_confidence
        self.dry_run = dry_run


class RevertRelabelsRequested(Requested):
    """Relabel each sid back to its label before: ``relabels`` = [(sid, label), ...]."""

    def __init__(self, reply_to: MessagePump, relabels: list[tuple[int, str]], reason: str) -> None:
        super().__init__(reply_to)
        self.relabels = relabels
        self.reason = reason


class RelabelsReverted(Message):
    def __init__(self, recorded: int) -> None:
        super().__init__()
        self.recorded = recorded


class SuggestionsAccepted(Message):
    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report


# -- versions --------------------------------------------------------------------------
class HistoryRequested(Requested):
    pass


class HistoryLoaded(Message):
    def __init__(self, versions: list[Any], changes: list[Any]) -> None:
        super().__init__()
        self.versions, self.changes = versions, changes


class DiffRequested(Requested):
    def __init__(self, reply_to: MessagePump, a: str | None, b: str | None) -> None:
        super().__init__(reply_to)
        self.a, self.b = a, b


class DiffLoaded(Message):
    def __init__(self, diff: Any) -> None:
        super().__init__()
        self.diff = diff


class ResetRequested(Requested):
    """Forget pending changes: those of ``samples`` (sample ids), or all when None."""

    def __init__(self, reply_to: MessagePump, samples: list[str] | None) -> None:
        super().__init__(reply_to)
        self.samples = samples


class ChangesReset(Message):
    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report


class CommitRequested(Requested):
    def __init__(self, reply_to: MessagePump, message: str) -> None:
        super().__init__(reply_to)
        self.message = message


class Committed(Message):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class TagRequested(Requested):
    def __init__(self, reply_to: MessagePump, name: str, version: str | None) -> None:
        super().__init__(reply_to)
        self.name, self.version = name, version


class Tagged(Message):
    def __init__(self, tag: Any) -> None:
        super().__init__()
        self.tag = tag


class ExportRequested(Requested):
    def __init__(
        self, reply_to: MessagePump, *, version: str, format: str, out: str, overwrite: bool
    ) -> None:
        super().__init__(reply_to)
        self.version, self.format, self.out, self.overwrite = version, format, out, overwrite


class Exported(Message):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


# -- augment ---------------------------------------------------------------------------
class PresetsRequested(Requested):
    pass


class PresetsLoaded(Message):
    def __init__(self, presets: list[Any], classes: list[str]) -> None:
        super().__init__()
        self.presets, self.classes = presets, classes


class PresetRequested(Requested):
    def __init__(self, reply_to: MessagePump, name: str) -> None:
        super().__init__(reply_to)
        self.name = name


class PresetLoaded(Message):
    def __init__(self, name: str, text: str) -> None:
        super().__init__()
        self.name, self.text = name, text


class PolicyValidationRequested(Requested):
    def __init__(self, reply_to: MessagePump, text: str) -> None:
        super().__init__(reply_to)
        self.text = text


class PolicyValidated(Message):
    """``issues`` are :class:`curate.augment.policy.PolicyIssue` (errors and warnings)."""

    def __init__(self, text: str, issues: list[Any]) -> None:
        super().__init__()
        self.text, self.issues = text, issues


class AugmentPreviewRequested(Requested):
    def __init__(
        self, reply_to: MessagePump, text: str, class_name: str | None, n: int, views: int
    ) -> None:
        super().__init__(reply_to)
        self.text, self.class_name, self.n, self.views = text, class_name, n, views


class AugmentPreviewed(Message):
    def __init__(self, image: Any) -> None:
        super().__init__()
        self.image = image


class AugmentRequested(Requested):
    def __init__(self, reply_to: MessagePump, text: str, *, dry_run: bool) -> None:
        super().__init__(reply_to)
        self.text, self.dry_run = text, dry_run


class Augmented(Message):
    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report


# -- synthesize ------------------------------------------------------------------------
class GeneratorsRequested(Requested):
    pass


class GeneratorsLoaded(Message):
    def __init__(self, generators: list[dict[str, Any]], plan: Any | None) -> None:
        super().__init__()
        self.generators, self.plan = generators, plan


class SynthesisRequested(Requested):
    """``fields`` are :class:`curate.synthesize.SynthRequest` fields (validated by the API)."""

    def __init__(self, reply_to: MessagePump, fields: dict[str, Any]) -> None:
        super().__init__(reply_to)
        self.fields = fields


class Synthesized(Message):
    def __init__(self, result: Any, images: list[tuple[int, Any]]) -> None:
        super().__init__()
        self.result, self.images = result, images
