"""`Workspace.report`: a self-contained HTML (or Markdown) report built from the catalog."""

from __future__ import annotations

import base64
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from curate.errors import InvalidInput
from tests.engines.test_evaluate import SMALL, build_noisy_folder


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """v1 raw (split), v2 = accepted scan fixes + augmented train; an evaluation of v2."""
    from curate.api import Workspace

    root = tmp_path_factory.mktemp("report")
    data = root / "data"
    build_noisy_folder(data)
    ws = Workspace.init(root / "ws")
    ws.ingest(data / "images")
    ws.scan("pixels", folds=3, seed=0)
    ws.split("0.6,0.4", names=["train", "test"], seed=0)
    ws.commit("raw")
    accepted = ws.accept()
    ws.augment("light", balance=True, target_per_class=30, workers=1)
    ws.commit("curated")
    evaluation = ws.evaluate("v2", against="v1", truth=data / "truth.csv", classifier=SMALL)
    yield ws, root, accepted, evaluation
    ws.close()


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.h2 = [], [], []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "src" in a:
            self.srcs.append(a["src"])
        if "href" in a:
            self.hrefs.append(a["href"])
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data)
            self._in_h2 = False


def test_html_is_self_contained_and_holds_every_section(curated):
    ws, root, accepted, evaluation = curated
    out = root / "report.html"
    result = ws.report("v2", against="v1", out=out, evaluation=evaluation)
    html = out.read_text()
    parsed = _Collect()
    parsed.feed(html)
    # every image is embedded; nothing is fetched
    assert parsed.srcs and all(s.startswith("data:image/png;base64,") for s in parsed.srcs)
    assert parsed.hrefs == [] and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    for src in parsed.srcs:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert html.count("<svg") == 2  # class distribution: all splits, train split
    assert parsed.h2 == result.sections
    for title in (
        "Evaluation: raw vs curated vs clean-label oracle",
        "Class distribution, before and after",
        "Issues found",
        "Decisions taken",
        "Augmented and synthetic samples",
        "Diff against v1",
        "Lineage totals",
    ):
        assert title in result.sections
    assert result.evaluation and result.images == len(parsed.srcs) + 2


def test_numbers_in_the_report_come_from_the_run(curated):
    ws, root, accepted, evaluation = curated
    out = root / "numbers.html"
    ws.report("v2", against="v1", out=out, evaluation=evaluation, top_issues=5)
    html = out.read_text()
    for arm in evaluation.arms:
        assert f"{100 * arm.accuracy:.2f}%" in html
        assert f"{100 * arm.macro_f1:.2f}%" in html
    if evaluation.gap_closed_accuracy is not None:
        assert f"closed {100 * evaluation.gap_closed_accuracy:.0f}%" in html
    # the relabel decisions the accept step made, and the augmented count per class
    diff = ws.diff("v1", "v2")
    assert accepted.accepted == diff.summary["relabeled"]
    assert f'<td class="num">{accepted.accepted}</td>' in html
    v2 = ws.version("v2").to_pandas()
    made = v2[v2.origin == "augmented"].groupby("label").size()
    assert len(made) > 0
    for label, n in made.items():
        assert escape(f"class {label!r}: {n} augmented") in html
    # five label-issue thumbnails, each with given and suggested labels
    assert len(re.findall(r"given &#x27;\w&#x27; -&gt; suggested &#x27;\w&#x27;", html)) == 5


def test_markdown_writes_its_images_next_to_it(curated):
    ws, root, _, evaluation = curated
    out = root / "md" / "report.md"
    out.parent.mkdir()
    result = ws.report("v2", against="v1", out=out, evaluation=evaluation)
    text = out.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert result.assets == str((root / "md" / "report_files").absolute())
    assert links and all((out.parent / link).is_file() for link in links)
    assert len(links) == result.images
    assert "| clean-label oracle | v1 |" in text
    # again: the old assets are replaced, nothing temporary is left
    ws.report("v2", against="v1", out=out, top_issues=2)
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.md", "report_files"]
    assert "clean-label oracle" not in out.read_text()


def test_report_of_a_single_version_and_bad_outputs(curated):
    ws, root, _, evaluation = curated
    alone = ws.report("v1", out=root / "v1.html")
    assert alone.against is None and "Diff against v1" not in alone.sections
    with pytest.raises(InvalidInput, match="format"):
        ws.report("v2", out=root / "report.pdf")
    # Missing folders are made, as every command that writes a file does.
    made = ws.report("v2", out=root / "missing" / "deeper" / "r.md")
    assert Path(made.path).is_file() and (root / "missing" / "deeper" / "r_files").is_dir()
    with pytest.raises(InvalidInput, match="not a folder"):
        ws.report("v2", out=Path(made.path) / "r.html")  # under a file
    with pytest.raises(InvalidInput, match="evaluation is of v2"):
        ws.report("v1", out=root / "mismatch.html", evaluation=evaluation)
    assert not (root / "mismatch.html").exists()
    assert not list(root.glob(".*tmp*"))
