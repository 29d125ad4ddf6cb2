"""The curation report: what a version changed and what it bought, as HTML or Markdown.

``ws.report("v2", against="v1", out="report.html", evaluation=ws.evaluate(...))``
"""

from curate.report.engine import write_report
from curate.report.models import ReportFormat, ReportRequest, ReportResult, ReportStep

__all__ = ["ReportFormat", "ReportRequest", "ReportResult", "ReportStep", "write_report"]
