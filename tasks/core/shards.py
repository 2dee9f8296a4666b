"""Shards: a fan-out's accounts split into groups that run as separate flow runs.

What travels between the parent and its shards is small and safe to show: account
*references* (a credentials block's name, or a partner's customer id), and back, a
``ShardReport`` of counts and file locations per account. Never a token, never a contact.
The parent joins the reports into a ``Manifest`` that names every account exactly once.
No Prefect import: the shard flow, the parent and any other orchestrator share this model.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .accounts import account_slug
from .errors import ConfigurationError

T = TypeVar("T")
ShardWork = Literal["segments", "members"]
ACCOUNT_PLACEHOLDER = "{account}"
SHARD_PLACEHOLDER = "{shard}"
MANIFEST_NAME = "_manifest.json"
REPORTS_DIR = "_shards"
MAX_SHARDS = 256


class AccountRef(BaseModel):
    """One account by reference: a credentials block's name, or a partner's customer id."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(min_length=1, description="Account name in artifacts and files.")
    block: str | None = Field(default=None, description="Credentials block name.")
    customer_id: str | None = Field(default=None, description="Partner customer id.")
    file_key: str = Field(default="", description="What replaces {account} in the export.")

    @model_validator(mode="after")
    def _one_source(self) -> AccountRef:
        if (self.block is None) == (self.customer_id is None):
            raise ValueError("an account is either a block or a customer id")
        if not self.file_key:
            object.__setattr__(self, "file_key", account_slug(self.label))
        return self

    @property
    def key(self) -> str:
        """What names it in a shard's parameters: the block name or the customer id."""
        return self.block if self.block is not None else f"customer:{self.customer_id}"


def unique_file_keys(refs: Sequence[AccountRef]) -> list[AccountRef]:
    """``refs`` with distinct ``file_key``s, so no shard's file overwrites another's.

    Two labels can share a slug ("A.B" and "a b"): the later one gets its customer id (or
    its position) appended, as the one-process fan-out has always done.
    """
    used: set[str] = set()
    out: list[AccountRef] = []
    for number, ref in enumerate(refs, start=1):
        key = ref.file_key
        if key in used:
            key = f"{key}-{account_slug(ref.customer_id or str(number))}"
        used.add(key)
        out.append(ref if key == ref.file_key else ref.model_copy(update={"file_key": key}))
    return out


def split_into_shards(refs: Sequence[T], n: int) -> list[list[T]]:
    """``refs`` in ``min(n, len(refs))`` contiguous groups whose sizes differ by at most one.

    Deterministic (the same input always gives the same shards, so a re-run shard has the
    same accounts) and complete: every ref is in exactly one shard, in the order given.
    """
    if n < 1:
        raise ConfigurationError(f"shards must be at least 1, got {n}.")
    count = min(n, len(refs)) or 1
    size, extra = divmod(len(refs), count)
    shards: list[list[T]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        shards.append(list(refs[start:end]))
        start = end
    return shards


def check_destination(export: str | None) -> str:
    """A sharded export's destination: each account's own file, so ``{account}`` is required."""
    if not export or ACCOUNT_PLACEHOLDER not in export:
        raise ConfigurationError(
            "A sharded fan-out writes one file per account: give an export destination with "
            "{account} in it (e.g. exports/{account}.csv; {shard} is allowed too)."
        )
    return export


def account_destination(export: str, ref: AccountRef, shard: int) -> str:
    """Where one account's file goes: ``{account}`` and ``{shard}`` filled in."""
    return export.replace(ACCOUNT_PLACEHOLDER, ref.file_key).replace(SHARD_PLACEHOLDER, str(shard))


def export_root(export: str) -> str:
    """The folder above the first placeholder: where the manifest and shard reports go."""
    cut = min(i for i in (export.find("{account}"), export.find("{shard}")) if i >= 0)
    root = posixpath.dirname(export[:cut])
    return root or "."


def attempt_report_location(report_path: str, attempt: int) -> str:
    """Where attempt ``attempt`` of a shard writes its report: the first at ``report_path``,
    each re-run beside it (``shard-0.attempt-2.json``), so a late run of an earlier attempt
    can never overwrite the report the parent reads."""
    if attempt <= 1:
        return report_path
    stem, extension = posixpath.splitext(report_path)
    return f"{stem}.attempt-{attempt}{extension}"


def report_location(export: str, run_key: str, shard: int) -> str:
    """Where shard ``shard`` of run ``run_key`` writes its report (beside the export)."""
    return posixpath.join(export_root(export), REPORTS_DIR, run_key, f"shard-{shard}.json")


def manifest_location(export: str) -> str:
    """The default manifest: ``_manifest.json`` in the export's folder, replaced each run."""
    return posixpath.join(export_root(export), MANIFEST_NAME)


class ShardAccount(BaseModel):
    """One account's line in a shard's report: counts and files, or a one-line error."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="Account name.")
    customer_id: str | None = Field(default=None, description="Customer id, when a customer.")
    error: str | None = Field(default=None, description="Why it failed, one line, no token.")
    segment_count: int = Field(default=0, ge=0, description="Segments collected.")
    member_count: int = Field(default=0, ge=0, description="Member rows written.")
    files: list[str] = Field(default_factory=list, description="Files written, as locations.")
    seconds: float = Field(default=0.0, description="Wall time spent on this account.")

    @property
    def ok(self) -> bool:
        return self.error is None


class ShardReport(BaseModel):
    """What one shard run did: its accounts' counts and files, never contacts or tokens."""

    model_config = ConfigDict(frozen=True)

    run_key: str = Field(description="The parent's run (its flow run id, or a uuid).")
    shard: int = Field(ge=0, description="This shard's index, from 0.")
    attempt: int = Field(default=1, ge=1, description="Which run of this shard (1 = first).")
    what: ShardWork = Field(default="segments", description="segments or members.")
    accounts: list[ShardAccount] = Field(default_factory=list)


class ManifestEntry(ShardAccount):
    """One account in the manifest: its shard line, and which shard run wrote it."""

    shard: int = Field(ge=0, description="The shard it was in.")
    attempt: int = Field(default=0, ge=0, description="The shard run that reported it; 0: none.")


class Manifest(BaseModel):
    """Every account of a sharded fan-out exactly once: files and counts, or its error."""

    model_config = ConfigDict(frozen=True)

    run_key: str
    what: ShardWork
    shards: int = Field(ge=1)
    seconds: float = Field(default=0.0, description="Wall time of the whole run.")
    accounts: list[ManifestEntry] = Field(default_factory=list)

    @property
    def failed(self) -> list[ManifestEntry]:
        return [entry for entry in self.accounts if not entry.ok]


def build_manifest(
    run_key: str,
    what: ShardWork,
    shards: Sequence[Sequence[AccountRef]],
    reports: Mapping[int, ShardReport],
    problems: Mapping[int, str] | None = None,
) -> Manifest:
    """One entry per account of ``shards``, in order, from its shard's report.

    An account whose shard left no report (or a report without it) is failed with the
    shard's problem, so no account is ever missing, and none is listed twice.
    """
    problems = problems or {}
    entries: list[ManifestEntry] = []
    for index, refs in enumerate(shards):
        report = reports.get(index)
        lines = {line.label: line for line in (report.accounts if report else [])}
        reason = problems.get(index) or f"shard {index} did not report this account"
        for ref in refs:
            line = lines.get(ref.label)
            if line is None or report is None:
                line = ShardAccount(label=ref.label, customer_id=ref.customer_id, error=reason)
            entries.append(
                ManifestEntry(
                    **line.model_dump(),
                    shard=index,
                    attempt=report.attempt if report is not None and ref.label in lines else 0,
                )
            )
    return Manifest(run_key=run_key, what=what, shards=len(shards), accounts=entries)


def refs_by_key(refs: Iterable[AccountRef]) -> dict[str, AccountRef]:
    """Refs by ``key``, for a shard to find each account's label and file name."""
    return {ref.key: ref for ref in refs}
