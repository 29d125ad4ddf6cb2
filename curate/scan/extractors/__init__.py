"""curate's built-in extractors, registered as ``curate.extractors`` entry points.

* ``pixels``   - pixel PCA + image statistics, kNN head (fast, CPU)
* ``patches``  - k-means patch features, logistic-regression head (CPU)
* ``ensemble`` - averages the predictions of several extractors (the default)
* ``cnn``      - a small CNN trained inside the folds (uses CUDA when present)
* ``backbone`` - a pretrained transformers/timm model from a local folder
"""
