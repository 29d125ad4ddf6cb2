"""--max-pixels is ingest's only size limit: Pillow's own bomb check neither overrides it
nor prints its warning. Pillow's limit is lowered here so small images stand for huge ones."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from tests.conftest import write_png


def test_max_pixels_is_the_only_limit(workspace, tmp_path, monkeypatch):
    from curate.ingest.decode import inspect_image

    # Pillow warns above 1,000 pixels and refuses above 2,000 ("could be decompression bomb")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    root = tmp_path / "src"
    write_png(root / "a" / "warns.png", 1, size=(40, 40))  # 1,600 pixels
    write_png(root / "a" / "refused.png", 2, size=(60, 60))  # 3,600 pixels
    write_png(root / "a" / "too-big.png", 3, size=(80, 80))  # 6,400 pixels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = workspace.ingest(root, max_pixels=5000)
        inspect_image((root / "a" / "refused.png").read_bytes(), max_pixels=5000)
    assert report.added_samples == 2
    (q,) = report.quarantined
    assert Path(q.source).name == "too-big.png"
    assert q.reason == "image too large: 80x80 pixels exceeds the limit of 5,000"
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert Image.MAX_IMAGE_PIXELS == 1000  # put back for everyone else
