"""The bucket ``s3_bucket`` (tests/conftest.py) gives a test: moto's S3 server, through s3fs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class S3Bucket:
    """An empty bucket on ``moto_s3``, reachable as ``s3://NAME/...`` through s3fs."""

    name: str
    fs: Any
    """The ``s3fs.S3FileSystem`` the pack's ``s3://`` URLs resolve to (fsspec's cached one)."""

    def url(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def object_keys(self) -> list[str]:
        """Every object key in the bucket, hidden names (``.x.tmp-...``) included, read afresh."""
        self.fs.invalidate_cache()
        found = self.fs.find(self.name, withdirs=False, detail=False)
        return sorted(str(path).removeprefix(f"{self.name}/") for path in found)

    def read(self, key: str) -> bytes:
        self.fs.invalidate_cache()
        return bytes(self.fs.cat_file(f"{self.name}/{key}"))

    def put(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.name}/{key}", data)
