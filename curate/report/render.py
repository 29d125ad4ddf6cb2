"""Turn :class:`ReportData` into one self-contained HTML file or a Markdown file + images.

HTML embeds every image (PNG as base64 data URIs, charts as inline SVG) and
its CSS, so it opens from disk in any browser with no server and no network.
Markdown writes the same pictures next to it in ``<name>_files/``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape

from curate.report import charts, narrative
from curate.report.collect import Picture, ReportData

BEFORE = "#a0aec0"
ORIGIN_COLORS = {"original": "#2b6cb0", "augmented": "#38a169", "synthetic": "#dd6b20"}


def class_charts(data: ReportData) -> list[tuple[str, str]]:
    """(name, svg) of the class distribution charts: all splits, then the train split."""
    out = []
    cats = list(data.classes)
    for name, before, after, what in (
        ("classes-all", data.before_all, data.after_all, "all splits"),
        ("classes-train", data.before_train, data.after_train, "train split"),
    ):
        if not after:
            continue
        groups = []
        if data.against is not None:
            groups.append(
                charts.Group(
                    data.against.name,
                    [charts.Segment("", BEFORE, [before.get(c, 0) for c in cats])],
                )
            )
        segments = [
            charts.Segment(origin, color, [after.get(c, {}).get(origin, 0) for c in cats])
            for origin, color in ORIGIN_COLORS.items()
            if any(after.get(c, {}).get(origin, 0) for c in cats)
        ]
        groups.append(charts.Group(data.version.name, segments))
        title = f"Samples per class, {what}" + (
            f": {data.against.name} (grey) vs {data.version.name}" if data.against else ""
        )
        out.append((name, charts.bar_chart(title, cats, groups)))
    return out


# -- HTML --------------------------------------------------------------------------------------
CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#1a202c;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #e2e8f0;padding-bottom:.2em;
margin-top:1.8em}table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #e2e8f0;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f7fafc}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.meta{color:#4a5568;font-size:.9em}.cards{display:flex;flex-wrap:wrap;gap:.6em}
.card{border:1px solid #e2e8f0;border-radius:6px;padding:.5em .8em;background:#f7fafc}
.card b{display:block;font-size:.8em;color:#4a5568;font-weight:normal}
.thumbs{display:flex;flex-wrap:wrap;gap:.8em}figure{margin:0;font-size:.8em;max-width:150px}
figure img{image-rendering:pixelated;border:1px solid #cbd5e0}figure.grid{max-width:none}
.headline{font-size:1.1em;background:#f0fff4;border-left:4px solid #38a169;padding:.6em .9em}
.miss{background:#fffaf0;border-left-color:#dd6b20}svg{max-width:100%;height:auto}
code{background:#edf2f7;padding:0 .25em;border-radius:3px}
"""


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(p: Picture, *, cls: str = "") -> str:
    cap = "<br>".join(escape(c) for c in p.caption if c)
    return (
        f'<figure class="{cls}"><img src="{_data_uri(p.png)}" alt="{escape(p.name)}">'
        f"<figcaption>{cap}</figcaption></figure>"
    )


def html_sections(data: ReportData) -> list[tuple[str, str]]:
    """(title, HTML body) of each section, in order."""
    out: list[tuple[str, str]] = []
    cards = "".join(
        f'<div class="card"><b>{escape(k)}</b>{escape(v)}</div>'
        for k, v in narrative.headline(data)
    )
    out.append(("Summary", f'<div class="cards">{cards}</div>'))

    ev = data.evaluation
    if ev is not None:
        met = ev.gap_closed_accuracy is not None and ev.gap_closed_accuracy >= 0.8
        body = (
            f'<p class="headline{"" if met else " miss"}">'
            f"{escape(narrative.evaluation_sentence(ev))}</p>"
            + _table(narrative.EVALUATION_HEADER, narrative.evaluation_rows(ev), {4, 5})
        )
        header, rows = narrative.recall_rows(ev)
        body += "<h3>Per-class recall on the held-out set</h3>" + _table(
            header, rows, set(range(1, len(header)))
        )
        body += (
            "<h3>How this was measured</h3><ul>"
            + "".join(f"<li>{escape(line)}</li>" for line in narrative.protocol(ev))
            + "</ul>"
        )
        out.append(("Evaluation: raw vs curated vs clean-label oracle", body))

    if data.steps or data.notes:
        rows = [
            [s.name, s.detail, "" if s.seconds is None else f"{s.seconds:.1f}"] for s in data.steps
        ]
        body = _table(["step", "what happened", "s"], rows, {2}) if rows else ""
        if data.notes:
            body += "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in data.notes) + "</ul>"
        out.append(("How this version was made", body))

    header, rows = narrative.class_rows(data)
    body = "".join(f'<div class="chart">{svg}</div>' for _, svg in class_charts(data))
    body += _table(header, rows, set(range(1, len(header))))
    out.append(("Class distribution, before and after", body))

    if data.scan is not None:
        s = data.scan
        counts = ", ".join(f"{n} {k}" for k, n in data.issue_counts.items()) or "none"
        body = (
            f"<p>Scan run {s['run_id']} (extractor <code>{escape(s['extractor'])}</code>, "
            f"seed {s['seed']}) flagged: {escape(counts)}.</p>"
        )
        if data.top_issues:
            body += (
                f"<p>The {len(data.top_issues)} most suspicious labels (lowest label quality "
                "first), with what this version decided:</p>"
            )
            body += (
                '<div class="thumbs">'
                + "".join(_figure(i.picture) for i in data.top_issues)
                + "</div>"
            )
        out.append(("Issues found", body))
    else:
        out.append(("Issues found", "<p>No scan has run in this workspace.</p>"))

    if data.decisions:
        out.append(
            (
                "Decisions taken",
                f"<p>Changes committed after {escape(data.against.name)} up to "
                f"{escape(data.version.name)}:</p>"
                + _table(["decision", "samples", "why"], narrative.decision_rows(data), {1}),
            )
        )

    made = data.made
    if any(v["augmented"] or v["synthetic"] for v in made.values()):
        rows = [
            [c, str(v["augmented"]), str(v["synthetic"])]
            for c, v in made.items()
            if v["augmented"] or v["synthetic"]
        ]
        body = _table(["class", "augmented", "synthetic"], rows, {1, 2})
        body += (
            '<div class="thumbs">' + "".join(_figure(g, cls="grid") for g in data.grids) + "</div>"
        )
        out.append(("Augmented and synthetic samples", body))

    if data.diff is not None:
        d = data.diff
        body = f"<p>From {escape(d.a)} to {escape(d.b)}" + (
            " — identical content.</p>" if d.identical else ":</p>"
        )
        body += _table(["change", "samples"], [[k, str(v)] for k, v in d.summary.items()], {1})
        body += "<h3>Classes</h3>" + _table(
            ["class", d.a, d.b, "delta"],
            [[k, str(c.a), str(c.b), f"{c.delta:+d}"] for k, c in d.classes.items()],
            {1, 2, 3},
        )
        body += "<h3>Splits</h3>" + _table(
            ["split", d.a, d.b, "delta"],
            [[k, str(c.a), str(c.b), f"{c.delta:+d}"] for k, c in d.splits.items()],
            {1, 2, 3},
        )
        out.append((f"Diff against {d.a}", body))

    lin = data.lineage
    rows = [[f"origin: {k}", str(v)] for k, v in lin.get("origins", {}).items()]
    rows += [[f"policy: {k}", str(v)] for k, v in lin.get("policies", {}).items()]
    rows += [[f"generator: {k}", str(v)] for k, v in lin.get("generators", {}).items()]
    rows.append(["distinct parents of made samples", str(lin.get("parents", 0))])
    out.append(("Lineage totals", _table(["what", "samples"], rows, {1})))
    return out


def render_html(data: ReportData) -> tuple[str, int, list[str]]:
    """(document, images embedded, section titles)."""
    sections = html_sections(data)
    v = data.version
    meta = (
        f"Workspace <code>{escape(data.workspace)}</code> · generated {escape(data.generated_at)}"
        f" · {escape(v.name)} {escape(v.hash[:12])}: {escape(v.message or '')}"
    )
    if data.against is not None:
        a = data.against
        meta += f" · against {escape(a.name)} {escape(a.hash[:12])}: {escape(a.message or '')}"
    body = "".join(f"<h2>{escape(t)}</h2>\n{b}\n" for t, b in sections)
    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(data.title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{escape(data.title)}</h1><p class="meta">{meta}</p>\n{body}'
        '<p class="meta">Made by curate. Self-contained: every image is embedded.</p>'
        "</body></html>\n"
    )
    n_images = len(data.top_issues) + len(data.grids) + len(class_charts(data))
    return doc, n_images, [t for t, _ in sections]


# -- Markdown --------------------------------------------------------------------------------
def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def render_markdown(
    data: ReportData, assets_name: str, write_asset: Callable[[str, bytes], None]
) -> tuple[str, int, list[str]]:
    """(document, images written, section titles); images go through ``write_asset``."""
    out: list[str] = [f"# {data.title}\n"]
    v = data.version
    meta = (
        f"Workspace `{data.workspace}` · generated {data.generated_at} · {v.name} `{v.hash[:12]}`"
    )
    if data.against is not None:
        meta += f" · against {data.against.name} `{data.against.hash[:12]}`"
    out.append(meta + "\n")
    titles: list[str] = []
    n_images = 0

    def section(title: str) -> None:
        titles.append(title)
        out.append(f"\n## {title}\n")

    def picture(name: str, data_bytes: bytes, ext: str, alt: str) -> str:
        nonlocal n_images
        n_images += 1
        write_asset(f"{name}.{ext}", data_bytes)
        return f"![{alt}]({assets_name}/{name}.{ext})"

    section("Summary")
    out.append(_md_table(["", ""], [[k, v] for k, v in narrative.headline(data)]))
    ev = data.evaluation
    if ev is not None:
        section("Evaluation: raw vs curated vs clean-label oracle")
        out.append(f"**{narrative.evaluation_sentence(ev)}**\n")
        out.append(_md_table(narrative.EVALUATION_HEADER, narrative.evaluation_rows(ev)))
        header, rows = narrative.recall_rows(ev)
        out.append("\n### Per-class recall on the held-out set\n")
        out.append(_md_table(header, rows))
        out.append("\n### How this was measured\n")
        out.append("\n".join(f"* {line}" for line in narrative.protocol(ev)) + "\n")
    if data.steps or data.notes:
        section("How this version was made")
        if data.steps:
            out.append(
                _md_table(
                    ["step", "what happened", "s"],
                    [
                        [s.name, s.detail, "" if s.seconds is None else f"{s.seconds:.1f}"]
                        for s in data.steps
                    ],
                )
            )
        if data.notes:
            out.append("\n".join(f"* {n}" for n in data.notes) + "\n")
    section("Class distribution, before and after")
    for name, svg in class_charts(data):
        out.append(picture(name, svg.encode(), "svg", name) + "\n")
    header, rows = narrative.class_rows(data)
    out.append(_md_table(header, rows))
    section("Issues found")
    if data.scan is None:
        out.append("No scan has run in this workspace.\n")
    else:
        s = data.scan
        counts = ", ".join(f"{n} {k}" for k, n in data.issue_counts.items()) or "none"
        out.append(
            f"Scan run {s['run_id']} (extractor `{s['extractor']}`, seed {s['seed']}) "
            f"flagged: {counts}.\n"
        )
        if data.top_issues:
            rows = [
                [
                    picture(i.picture.name, i.picture.png, "png", i.sample_id[:12]),
                    i.given or "",
                    i.suggested or "",
                    "" if i.score is None else f"{1 - i.score:.2f}",
                    i.decision,
                ]
                for i in data.top_issues
            ]
            out.append(_md_table(["image", "given", "suggested", "confidence", "decision"], rows))
    if data.decisions:
        section("Decisions taken")
        out.append(_md_table(["decision", "samples", "why"], narrative.decision_rows(data)))
    made = data.made
    if any(m["augmented"] or m["synthetic"] for m in made.values()):
        section("Augmented and synthetic samples")
        out.append(
            _md_table(
                ["class", "augmented", "synthetic"],
                [
                    [c, str(m["augmented"]), str(m["synthetic"])]
                    for c, m in made.items()
                    if m["augmented"] or m["synthetic"]
                ],
            )
        )
        for g in data.grids:
            out.append(
                f"\n{' · '.join(g.caption)}\n\n" + picture(g.name, g.png, "png", g.name) + "\n"
            )
    if data.diff is not None:
        d = data.diff
        section(f"Diff against {d.a}")
        out.append(_md_table(["change", "samples"], [[k, str(n)] for k, n in d.summary.items()]))
        out.append(
            "\n"
            + _md_table(
                ["class", d.a, d.b, "delta"],
                [[k, str(c.a), str(c.b), f"{c.delta:+d}"] for k, c in d.classes.items()],
            )
        )
    section("Lineage totals")
    lin = data.lineage
    rows = [[f"origin: {k}", str(n)] for k, n in lin.get("origins", {}).items()]
    rows += [[f"policy: {k}", str(n)] for k, n in lin.get("policies", {}).items()]
    rows += [[f"generator: {k}", str(n)] for k, n in lin.get("generators", {}).items()]
    rows.append(["distinct parents of made samples", str(lin.get("parents", 0))])
    out.append(_md_table(["what", "samples"], rows))
    return "\n".join(out), n_images, titles
