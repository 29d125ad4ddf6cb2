"""A million images on one machine: time and peak memory of every stage.

    python benchmarks/bench_scale.py --n 1000000 --workdir /tmp/scale
    python benchmarks/bench_scale.py --n 50000 --workdir /tmp/scale50k --stages gen,ingest,scan

Claim (issue 9): ingest, scan (features, kNN near duplicates and outliers),
commit, diff and export of a 1,000,000-image catalog work within 24 GB of RAM
on a 2-core machine. Each stage runs in its own subprocess, through the real
CLI (``curate ingest|scan|commit|diff|export``) or, for the 1% relabel, the
Python API; its wall time, CPU time and peak RSS (``os.wait4``'s
``ru_maxrss`` of that one child, so peaks are per stage) are recorded. A table
is printed and ``<workdir>/bench_scale.json`` written.

The images (made here, streaming, never all in memory): sklearn's 8x8
digits upscaled to 24 px, then a random affine view of one (scale 0.65-1.05,
rotation +-15 degrees, shift +-3 px) on a 28x28 canvas with pixel noise, stored as PNG in ``images/<label>/<shard>/``.
Planted, with the truth kept in ``truth.parquet``: 2% flipped labels, 0.3%
exact duplicates (same pixels, other PNG bytes), 0.3% near duplicates (a
copy with a brightness shift and faint noise), 0.05% black images and
0.01% bad files (truncated PNGs, text named .png). The scan's label issues
are scored against the truth at the end (precision, recall).

``--stages`` picks stages (default: all): gen, ingest, scan, score, commit,
relabel, commit2, diff, export_parquet, export_webdataset. Reruns reuse what
the earlier stages left in ``--workdir`` (``--fresh`` deletes it first).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STAGES = [
    "gen",
    "ingest",
    "scan",
    "score",
    "commit",
    "relabel",
    "commit2",
    "diff",
    "export_parquet",
    "export_webdataset",
]
SIDE = 28
SHARD = 10_000  # files per folder
RATES = {"flip": 0.02, "exact": 0.003, "near": 0.003, "black": 0.0005, "bad": 0.0001}
BUDGET_MB = 24 * 1024


# -- data -------------------------------------------------------------------------------
def _affine(digit, scale: float, angle: float, shift) -> np.ndarray:
    """A 24x24 digit scaled, rotated and shifted onto the SIDE x SIDE canvas (float32)."""
    from PIL import Image

    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    cx, cy = SIDE / 2 + shift[0], SIDE / 2 + shift[1]
    # PIL maps each output pixel (x, y) to the input pixel (a x + b y + c, d x + e y + f).
    a, b, d, e = cos, sin, -sin, cos
    c = 12 - a * cx - b * cy
    f = 12 - d * cx - e * cy
    out = digit.transform((SIDE, SIDE), Image.Transform.AFFINE, (a, b, c, d, e, f), Image.BILINEAR)
    return np.asarray(out, dtype=np.float32)


def _write(path: str, pixels: np.ndarray, kind: str, i: int) -> None:
    from PIL import Image

    if kind == "bad":
        data = b"\x89PNG\r\n\x1a\n" + b"truncated" if i % 2 else b"not an image\n"
        with open(path, "wb") as fh:
            fh.write(data)
        return
    # compress_level 1 for exact copies: other bytes, same pixels.
    level = 1 if kind == "exact" else 6
    Image.fromarray(pixels, mode="L").save(path, compress_level=level)


def generate(n: int, out: Path, seed: int) -> dict:
    """Write ``n`` PNGs (plus planted problems) under ``out/images``, chunk by chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    base = (x.reshape(-1, 8, 8) * 255 / 16).astype(np.uint8)
    # Every digit upscaled once; each image is then a random affine view of one:
    # continuous scale, rotation and shift, so no two images share a geometry
    # (with a few discrete placements, a million images would be mostly noisy
    # twins of one another, which is not what a real dataset looks like).
    big = [Image.fromarray(b, mode="L").resize((24, 24), Image.Resampling.BILINEAR) for b in base]
    rng = np.random.default_rng(seed)
    root = out / "images"
    writer = None
    counts = dict.fromkeys(RATES, 0)
    chunk = 20_000
    made_dirs: set[Path] = set()
    pool = ThreadPoolExecutor(4)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        m = stop - start
        pick = rng.integers(0, len(y), m)
        true = y[pick]
        given = true.copy()
        flip = rng.random(m) < RATES["flip"]
        given[flip] = (given[flip] + rng.integers(1, 10, flip.sum())) % 10
        scale = rng.uniform(0.65, 1.05, m)
        angle = np.radians(rng.uniform(-15, 15, m))
        shift = rng.uniform(-3, 3, (m, 2))
        kind = np.full(m, "", dtype=object)
        u = rng.random(m)
        # Planted copies point back at an earlier image of the same chunk.
        cuts = np.cumsum([RATES["exact"], RATES["near"], RATES["black"], RATES["bad"]])
        kind[u < cuts[0]] = "exact"
        kind[(u >= cuts[0]) & (u < cuts[1])] = "near"
        kind[(u >= cuts[1]) & (u < cuts[2])] = "black"
        kind[(u >= cuts[2]) & (u < cuts[3])] = "bad"
        kind[:1] = ""  # the first of a chunk has nothing earlier to copy
        # Each copy points at a row before it (never itself).
        before = rng.integers(0, np.maximum(np.arange(m), 1))
        of = np.where(np.isin(kind, ["exact", "near"]), before, -1)
        of[kind == ""] = -1
        pixels = np.empty((m, SIDE, SIDE), np.uint8)
        noise = rng.normal(0, 8, (m, SIDE, SIDE)).astype(np.float32)
        paths, source_of = [], []
        for i in range(m):
            if kind[i] in ("exact", "near"):
                j = int(of[i])
                while kind[j] in ("exact", "near", "bad", "black"):
                    j = int(of[j]) if of[j] >= 0 else 0
                of[i] = j
                given[i], true[i] = given[j], true[j]
                if kind[i] == "exact":
                    pixels[i] = pixels[j]
                else:
                    shifted = pixels[j].astype(np.float32) + 6 + rng.normal(0, 1.5, (SIDE, SIDE))
                    pixels[i] = np.clip(shifted, 0, 255).astype(np.uint8)
            elif kind[i] == "black":
                pixels[i] = 0
            else:
                view = _affine(big[pick[i]], scale[i], angle[i], shift[i])
                pixels[i] = np.clip(noise[i] + view, 0, 255).astype(np.uint8)
            idx = start + i
            folder = root / str(int(given[i])) / f"{idx // SHARD:04d}"
            if folder not in made_dirs:
                folder.mkdir(parents=True, exist_ok=True)
                made_dirs.add(folder)
            paths.append(str(folder / f"img_{idx:07d}.png"))
            source_of.append(paths[int(of[i])] if of[i] >= 0 else None)
        # File creation dominates (about 1 ms a file here): threads overlap it.
        list(pool.map(_write, paths, pixels, kind, range(m)))
        for k in RATES:
            counts[k] += int((kind == k).sum()) if k != "flip" else int((given != true).sum())
        table = pa.table(
            {
                "path": paths,
                "given": given.astype(np.int32),
                "true": true.astype(np.int32),
                "kind": pa.array([k or None for k in kind], pa.string()),
                "copy_of": source_of,
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(out / "truth.parquet", table.schema)
        writer.write_table(table)
        print(f"gen {stop}/{n}", file=sys.stderr, flush=True)
    writer.close()
    pool.shutdown()
    return {"images": n, "planted": counts}


def relabel(ws_dir: Path, fraction: float, seed: int) -> dict:
    """Relabel ``fraction`` of the live samples through the Python API (a pending change)."""
    import pyarrow.compute as pc

    from curate.api import Workspace

    with Workspace.open(ws_dir) as ws:
        table = ws.samples().select(["sid", "label"])
        names = sorted(n for _, n in ws.classes())
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(table.num_rows, int(table.num_rows * fraction), replace=False))
        rows = table.take(pick)
        sids = rows.column("sid").to_numpy()
        labels = rows.column("label").to_pylist()
        target = [names[(names.index(lab) + 1) % len(names)] for lab in labels]
        recorded = 0
        for name in names:
            mine = sids[np.asarray(target) == name]
            if len(mine):
                recorded += ws.relabel([int(s) for s in mine], name, reason="bench").recorded
        return {
            "relabeled": recorded,
            "unique_labels": int(pc.count_distinct(rows["label"]).as_py()),
        }


def score(ws_dir: Path, truth_path: Path) -> dict:
    """The latest scan against the planted truth: label issues (precision, recall) and
    the planted copies found in one group with their original (recall)."""
    import pyarrow.parquet as pq

    from curate.api import Workspace

    truth = pq.read_table(truth_path, columns=["path", "given", "true", "kind", "copy_of"])
    cols = [truth.column(c).to_pylist() for c in truth.column_names]
    # Black images carry a random digit's label: no truth to score them against
    # (and all of them are one sample, stored once under every path).
    scored = {p for p, _, _, k, _ in zip(*cols, strict=True) if k not in ("black", "bad")}
    flipped = {p for p, g, t, k, _ in zip(*cols, strict=True) if g != t and p in scored}
    copies = {
        kind: [(p, src) for p, _, _, k, src in zip(*cols, strict=True) if k == kind]
        for kind in ("exact", "near")
    }
    with Workspace.open(ws_dir) as ws:
        cat = ws.catalog()
        run = cat.scalar("SELECT max(run_id) FROM scan_runs")
        rows = cat.rows(
            # Every path of a sample: identical files are one sample with several paths.
            "SELECT DISTINCT s.uri, f.kind, CAST(json_extract(f.details, '$.group') AS BIGINT) "
            "FROM findings f JOIN sources s USING (sid) WHERE f.run_id = ? AND f.is_issue",
            [run],
        )
    by_kind: dict[str, set[str]] = {}
    group: dict[tuple[str, str], int] = {}
    for source, kind, g in rows:
        by_kind.setdefault(kind, set()).add(source)
        if g is not None:
            group[(kind, source)] = g
    flagged = by_kind.get("label", set()) & scored
    hits = len(flagged & flipped)
    precision = hits / max(1, len(flagged))
    recall = hits / max(1, len(flipped))

    def grouped(kind: str, pairs) -> float:
        found = sum(
            1
            for a, b in pairs
            if (kind, a) in group and group[(kind, a)] == group.get((kind, b), -1)
        )
        return round(found / max(1, len(pairs)), 4)

    return {
        "label_flagged": len(flagged),
        "label_true_flips": len(flipped),
        "label_precision": round(precision, 4),
        "label_recall": round(recall, 4),
        "label_f1": round(2 * precision * recall / max(1e-9, precision + recall), 4),
        "issues_by_kind": {k: len(v) for k, v in sorted(by_kind.items())},
        "planted_exact": len(copies["exact"]),
        "exact_pairs_grouped": grouped("duplicate", copies["exact"]),
        "planted_near": len(copies["near"]),
        "near_pairs_grouped": grouped("near_duplicate", copies["near"]),
    }


# -- stage runner -------------------------------------------------------------------------
def run_stage(name: str, argv: list[str], log: Path, env: dict) -> dict:
    """Run one stage in a child process; its own wall, CPU and peak RSS."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t = time.perf_counter()
    with open(log, "ab") as fh:
        fh.write(f"\n== {name}: {' '.join(argv)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=fh, env=env)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    result = {
        "stage": name,
        "started": started,
        "rc": proc.returncode,
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "load_avg_end": round(os.getloadavg()[0], 2),
    }
    text = out.decode(errors="replace").strip()
    try:
        result["output"] = json.loads(text) if text else None
    except json.JSONDecodeError:
        result["output"] = text[-2000:]
    return result


def summary(stage: str, out) -> str:
    if not isinstance(out, dict):
        return ""
    if stage == "ingest":
        return f"{out.get('added_samples')} samples, {len(out.get('quarantined', []))} quarantined"
    if stage == "scan":
        t = out.get("timing", {})
        return "issues " + json.dumps(out.get("issues")) + " | " + json.dumps(t)
    if stage == "score":
        return (
            f"label P {out['label_precision']} R {out['label_recall']} F1 {out['label_f1']} "
            f"({out['label_flagged']} flagged, {out['label_true_flips']} planted); copies "
            f"grouped: exact {out['exact_pairs_grouped']}, near {out['near_pairs_grouped']}"
        )
    if stage.startswith("commit"):
        v = out.get("version", {})
        return f"{v.get('name')} {str(v.get('hash'))[:12]}"
    if stage == "diff":
        return json.dumps(out.get("summary", {k: out[k] for k in list(out)[:4]}))[:160]
    if stage.startswith("export"):
        return f"{out.get('samples')} samples, {out.get('files')} files, {out.get('bytes', 0) / 1e6:.0f} MB"
    if stage == "relabel":
        return f"{out.get('relabeled')} relabeled"
    if stage == "gen":
        return json.dumps(out.get("planted"))
    return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="images to generate")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/curate-scale"))
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true", help="delete --workdir first")
    ap.add_argument("--scan-args", default="", help="extra arguments for `curate scan`")
    ap.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one Python stage
    args = ap.parse_args()

    work = args.workdir.absolute()
    ws_dir = work / "ws"
    if args.stage:  # child mode
        if args.stage == "gen":
            out = generate(args.n, work, args.seed)
        elif args.stage == "relabel":
            out = relabel(ws_dir, 0.01, args.seed)
        elif args.stage == "score":
            out = score(ws_dir, work / "truth.parquet")
        else:
            raise SystemExit(f"unknown stage {args.stage}")
        print(json.dumps(out))
        return

    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise SystemExit(f"unknown stages: {', '.join(unknown)} (known: {', '.join(STAGES)})")
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--n", str(args.n), "--workdir", str(work), "--seed", str(args.seed)]
    cli = [sys.executable, "-m", "curate", "-w", str(ws_dir)]
    commands = {
        "gen": me + common + ["--stage", "gen"],
        "ingest": cli + ["ingest", str(work / "images"), "--json"],
        "scan": cli + ["scan", "--json", *args.scan_args.split()],
        "score": me + common + ["--stage", "score"],
        "commit": cli + ["commit", "-m", "ingested", "--json"],
        "relabel": me + common + ["--stage", "relabel"],
        "commit2": cli + ["commit", "-m", "1% relabel", "--json"],
        "diff": cli + ["diff", "HEAD~1", "HEAD", "--json"],
        "export_parquet": cli
        + ["export", "HEAD", "--format", "parquet", "--out", str(work / "out_parquet")]
        + ["--overwrite", "--json"],
        "export_webdataset": cli
        + ["export", "HEAD", "--format", "webdataset", "--out", str(work / "out_wds")]
        + ["--overwrite", "--json"],
    }
    if "gen" in stages and (work / "images").exists():
        shutil.rmtree(work / "images")
    if "ingest" in stages:
        shutil.rmtree(ws_dir, ignore_errors=True)
        subprocess.run(cli[:3] + ["init", str(ws_dir)], check=True, capture_output=True)

    results_path = work / "bench_scale.json"
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}
    by_stage = {r["stage"]: r for r in previous.get("stages", []) if previous.get("n") == args.n}
    log = work / "bench_scale.log"
    print(f"n={args.n} workdir={work} (stage output in {log})")
    print(f"{'stage':<18} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}  result")
    for name in stages:
        r = run_stage(name, commands[name], log, env)
        r["command"] = " ".join(commands[name])
        by_stage[name] = r
        mark = "" if r["rc"] == 0 else f"  FAILED rc={r['rc']}"
        print(
            f"{name:<18} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['peak_rss_mb']:>12.0f}  "
            f"{summary(name, r['output'])}{mark}",
            flush=True,
        )
        results_path.write_text(
            json.dumps(
                {
                    "n": args.n,
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": f"{os.cpu_count()}-core CPU, shared with other jobs",
                    "stages": [by_stage[s] for s in STAGES if s in by_stage],
                },
                indent=1,
            )
        )
        if r["rc"] != 0:
            print(f"stage {name} failed; see {log}")
            break
    peak = max((r["peak_rss_mb"] for r in by_stage.values()), default=0)
    verdict = (
        "PASS" if peak < BUDGET_MB and all(r["rc"] == 0 for r in by_stage.values()) else "MISS"
    )
    print(
        f"{verdict}: highest stage peak {peak:.0f} MB of the {BUDGET_MB} MB budget; {results_path}"
    )


if __name__ == "__main__":
    main()
