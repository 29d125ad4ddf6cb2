"""Export a version as hf | parquet | imagefolder | webdataset (see ``engine``)."""
