"""Requests and results of ``Workspace.report``. stdlib + pydantic only."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from curate.core.models import Model


class ReportFormat(StrEnum):
    HTML = "html"
    MARKDOWN = "md"


class ReportStep(Model):
    """One step of how the version was made (the demo passes its log)."""

    name: str
    detail: str = ""
    seconds: float | None = None


class ReportRequest(Model):
    version: str = Field("HEAD", description="the version the report is about")
    against: str | None = Field(
        None, description="the version to compare with (default: the first version)"
    )
    format: ReportFormat | None = Field(
        None, description="html or md (default: from the output file's suffix)"
    )
    top_issues: int = Field(12, ge=0, le=200, description="label issues shown as thumbnails")
    examples_per_class: int = Field(
        8, ge=0, le=64, description="augmented / synthetic examples shown per class"
    )
    thumb_size: int = Field(64, ge=16, le=256, description="thumbnail side in pixels")
    title: str | None = Field(None, description="report title")


class ReportResult(Model):
    path: str
    format: ReportFormat
    version: str
    against: str | None
    assets: str | None = Field(None, description="folder of images (Markdown only)")
    sections: list[str]
    images: int = Field(description="images embedded or written")
    bytes: int
    evaluation: bool = Field(description="the report holds an evaluation table")
    seconds: float
    summary: dict[str, Any] = Field(default_factory=dict, description="headline numbers")
