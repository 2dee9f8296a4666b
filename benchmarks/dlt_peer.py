"""The peer: the same work done with dlt (``rest_api`` source, ``filesystem`` destination).

Kept free of the pack and of the benchmark machinery, so a whole ``python -c`` process can
run it (``python -c "from benchmarks.dlt_peer import main; main()" ...``) and pay only what a
dlt user pays. Configured as dlt documents it: the REST API source declared as a dict, the
partner's token hop as dependent resources (rest_api interpolates a parent's field into a
child's query and headers, so no hand-written ``@dlt.transformer`` is needed), nesting kept
as JSON columns (``max_table_nesting=0``) like the pack's exports, and no compression of JSON
Lines, since the pack writes plain ``.jsonl``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# Set before dlt is imported: no telemetry, no compression, nothing outside the run's folder.
ENVIRONMENT = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
}
DATASET = "botpenguin"


def environment(workdir: Path, workers: int | None = None) -> dict[str, str]:
    """dlt's settings for a run in ``workdir`` (its data dir too, so ``~/.dlt`` stays untouched)."""
    env = {**ENVIRONMENT, "DLT_DATA_DIR": str(workdir / "dlt-data")}
    if workers is not None:
        env["EXTRACT__WORKERS"] = str(workers)  # dlt's thread pool for parallelized resources
    return env


def _run(source: Any, name: str, workdir: Path, file_format: str) -> Path:
    import dlt

    target = workdir / f"{name}-{file_format}"
    pipeline = dlt.pipeline(
        pipeline_name=f"botpenguin_{name}",
        destination=dlt.destinations.filesystem(bucket_url=str(target)),
        dataset_name=DATASET,
        pipelines_dir=str(workdir / "pipelines"),
    )
    pipeline.run(source, loader_file_format=file_format, write_disposition="replace")  # type: ignore[arg-type]
    return target / DATASET / "segments"


def one_account(url: str, token: str, workdir: Path, file_format: str) -> Path:
    """``GET /inbox/segments`` with a bearer token, written as ``file_format``; its folder."""
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": url,
                "auth": {"type": "bearer", "token": token},
                "headers": {"authtype": "Key"},
            },
            "resources": [
                {
                    "name": "segments",
                    "endpoint": {
                        "path": "inbox/segments",
                        "data_selector": "data",
                        "paginator": "single_page",
                    },
                }
            ],
        },
        max_table_nesting=0,
    )
    return _run(source, "one", workdir, file_format)


def partner(url: str, partner_token: str, workdir: Path, file_format: str = "parquet") -> Path:
    """Discovery like the pack's: list pages until an empty one, a token per customer, then
    each customer's segments. Customers and tokens are not written (``selected: False``)."""
    from dlt.sources.rest_api import rest_api_source

    as_partner = {"Authorization": f"Bearer {partner_token}", "authtype": "Key"}
    source = rest_api_source(
        {
            "client": {"base_url": url},
            "resources": [
                {
                    "name": "customers",
                    "selected": False,
                    "endpoint": {
                        "path": "customer/list",
                        "headers": as_partner,
                        "params": {"sort": "x"},
                        "data_selector": "data",
                        "paginator": {
                            "type": "page_number",
                            "base_page": 1,
                            "page_param": "page",
                            "total_path": None,
                            "stop_after_empty_page": True,
                        },
                    },
                },
                {
                    "name": "tokens",
                    "selected": False,
                    "parallelized": True,
                    "endpoint": {
                        "path": "ext/get-user-token",
                        "headers": as_partner,
                        "params": {"userId": "{resources.customers._id}"},
                        "data_selector": "data.permanentToken",
                        "paginator": "single_page",
                    },
                    "include_from_parent": ["_id"],
                },
                {
                    "name": "segments",
                    "parallelized": True,
                    "endpoint": {
                        "path": "inbox/segments",
                        "headers": {
                            "Authorization": "Bearer {resources.tokens.key}",
                            "authtype": "Key",
                        },
                        "data_selector": "data",
                        "paginator": "single_page",
                    },
                    "include_from_parent": ["_customers__id"],
                },
            ],
        },
        max_table_nesting=0,
    )
    return _run(source, "partner", workdir, file_format)


def count_rows(folder: Path) -> int:
    """Rows dlt wrote into a table's folder (Parquet or JSON Lines files)."""
    import pyarrow.parquet as pq

    total = 0
    for path in folder.iterdir():
        if path.suffix == ".parquet":
            total += pq.read_metadata(path).num_rows
        elif path.suffix == ".jsonl":
            with path.open("rb") as file:
                total += sum(1 for _ in file)
    return total


def main(argv: list[str] | None = None) -> None:
    """``one URL TOKEN WORKDIR FORMAT`` or ``partner URL TOKEN WORKDIR``: one whole run."""
    what, url, token, workdir, *rest = argv if argv is not None else sys.argv[1:]
    os.environ.update(environment(Path(workdir)))
    if what == "one":
        folder = one_account(url, token, Path(workdir), rest[0])
    else:
        folder = partner(url, token, Path(workdir))
    print(count_rows(folder))
