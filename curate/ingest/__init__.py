"""The ingest engine: bring images from a folder, manifest or HF dataset into a workspace."""
