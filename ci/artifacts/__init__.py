"""Runs' artifacts and finished logs in a store chosen by setting: a directory by default, or
any fsspec filesystem by URL (S3 and S3-compatible stores, GCS, Azure), under `<run uuid>/`."""
