"""Segment members (contacts) from ``POST /inbox/users``, page by page. No Prefect import.

BotPenguin lists contacts with a filter body in which every documented filter field must be
present (empty when unused); ``segments`` narrows it to the members of those segments and a
1-based ``page`` walks through them until a page comes back empty. No page size, total or
cursor is documented, so the pager needs none -- but when the envelope carries an integer
``total`` (or ``totalCount``) it is checked, which is the only way to notice a listing that
ended early at an empty page in the middle; without one such a listing is shorter, as the
documented stop rule cannot tell that empty page from the end.

The listings are async iterators of pages (``list[Contact]``), so callers hold one page at a
time however large the audience. Each page is one ``BotPenguinClient.request``: the client's
retry policy and error tree apply per page, and a page that still fails ends the whole
listing with that error (never a silently shorter list). Two guards stop a server that never
ends: a page with exactly the ids of the page before it (``ResponseError``), and a hard cap
on the number of pages.

Contacts are personal data: errors raised here name segment ids, page numbers and counts,
never a contact's fields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError

from .errors import ResponseError

if TYPE_CHECKING:
    from .client import BotPenguinClient

MEMBERS_PATH = "/inbox/users"
MAX_PAGES = 100_000
"""Default hard cap on pages per listing: far beyond any real audience, short of forever."""
TOTAL_KEYS = ("total", "totalCount")
"""Envelope keys read as the listing's total, when the API sends one (not documented)."""

# Every documented filter field, empty. BotPenguin's help page says all are required.
EMPTY_FILTERS: dict[str, Any] = {
    "searchText": "",
    "tags": [],
    "status": "",
    "isOnline": "",
    "_botWebsite": "",
    "_botWhatsapp": "",
    "_botTelegram": "",
    "_botFacebook": "",
    "_agentAssigned": "",
    "applicableFilters": [],
    "lastSeenAt": "",
    "createdAt": {"startAt": "", "endsAt": ""},
    "userInteracted": "",
    "lastMessageBy": "",
    "isLiveChatActive": "",
    "hasOrdered": "",
    "isExport": "none",
}
RECORD_KEYS = ("segment_id", "id", "extra")
"""Names exports use themselves; a contact field so named is exported as ``api.<name>``."""


class Contact(BaseModel):
    """One contact (a segment member). Only ``_id`` is documented; every other field is kept.

    Like ``Segment``, unknown fields live in ``extra`` under their API names. It dumps with
    API names (``_id``), so ``Contact.model_validate_json(c.model_dump_json()) == c``.
    """

    model_config = ConfigDict(extra="allow", frozen=True, serialize_by_alias=True)

    id: StrictStr = Field(alias="_id", min_length=1, description="Contact ObjectId.")

    @property
    def extra(self) -> dict[str, Any]:
        """Every field the API sent besides ``_id``, in the order received."""
        return dict(self.model_extra or {})

    def to_api_dict(self) -> dict[str, Any]:
        """The contact as the API sent it."""
        return self.model_dump(mode="json")

    def to_record(self, segment_id: str, fields: Sequence[str] | None = None) -> dict[str, Any]:
        """Flat record for exports: ``segment_id, id``, then the contact's fields.

        ``fields`` keeps only those fields (in that order; a missing one is ``None``). A
        field the API calls ``segment_id``, ``id`` or ``extra`` is kept as ``api.<name>``.
        """
        extra = self.__pydantic_extra__ or {}  # not .model_extra: 100,000 calls add up
        if fields is None and extra.keys().isdisjoint(RECORD_KEYS):  # the common case, fast
            return {"segment_id": segment_id, "id": self.id, **extra}
        record: dict[str, Any] = {"segment_id": segment_id, "id": self.id}
        items: Iterable[tuple[str, Any]] = extra.items()
        if fields is not None:
            items = ((name, extra.get(name)) for name in fields if name not in ("_id", "id"))
        for key, value in items:
            record[f"api.{key}" if key in RECORD_KEYS else key] = value
        return record


_CONTACTS: TypeAdapter[list[Contact]] = TypeAdapter(list[Contact])


@dataclass(frozen=True)
class MemberPage:
    """One page of one segment's listing."""

    segment_id: str
    number: int
    contacts: list[Contact]


def members_request(segment_ids: Sequence[str], page: int) -> dict[str, Any]:
    """The body of ``POST /inbox/users`` for one page of these segments' members."""
    return {**EMPTY_FILTERS, "segments": list(segment_ids), "page": page}


def parse_contacts(data: Any, *, segment_id: str, page: int) -> list[Contact]:
    """``data`` of one page as contacts; anything but a list of objects with ``_id`` is refused."""
    where = f"BotPenguin members of segment {segment_id!r}, page {page}"
    if not isinstance(data, list):
        raise ResponseError(
            f"{where}: 'data' is a {type(data).__name__}, expected a list; the API may have "
            "changed, please report it."
        )
    try:
        return _CONTACTS.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]["loc"]
        index = first[0] if first else "?"
        raise ResponseError(
            f"{where}: contact #{index} is not an object with a string '_id'; the API may have "
            "changed, please report it."
        ) from None


def _total(extra: dict[str, Any] | None) -> int | None:
    for key in TOTAL_KEYS:
        value = (extra or {}).get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


async def iter_segment_members(
    client: BotPenguinClient, segment_id: str, *, max_pages: int = MAX_PAGES
) -> AsyncIterator[list[Contact]]:
    """Every member of one segment, one page (``list[Contact]``) at a time.

    Stops at the first empty page. Raises the client's errors for a page that fails after
    its retries, and ``ResponseError`` when the server repeats a page, never ends within
    ``max_pages`` pages, or ends below the ``total`` it announced.
    """
    async for page in _pages(client, segment_id, max_pages):
        yield page.contacts


async def get_segment_members(client: BotPenguinClient, segment_id: str) -> list[Contact]:
    """Every member of one segment in one list; for large audiences page with
    ``iter_segment_members`` instead, which holds one page at a time.
    """
    return [contact async for page in iter_segment_members(client, segment_id) for contact in page]


async def iter_members(
    client: BotPenguinClient,
    segment_ids: Sequence[str] | None = None,
    *,
    max_pages: int = MAX_PAGES,
) -> AsyncIterator[MemberPage]:
    """The members of several segments (default: every segment of the account), page by page.

    Segments are listed one after another, each on its own, so every page says which
    segment it belongs to (a contact in two segments comes once per segment).
    """
    if segment_ids is None:
        segment_ids = [segment.id for segment in await client.get_segments()]
    for segment_id in dict.fromkeys(segment_ids):  # each segment once, in the order given
        async for page in _pages(client, segment_id, max_pages):
            yield page


async def _pages(
    client: BotPenguinClient, segment_id: str, max_pages: int
) -> AsyncIterator[MemberPage]:
    previous: list[str] | None = None
    seen = 0
    total: int | None = None
    for number in range(1, max_pages + 1):
        envelope = await client.request(
            "POST", MEMBERS_PATH, json=members_request([segment_id], number)
        )
        contacts = parse_contacts(envelope.data, segment_id=segment_id, page=number)
        announced = _total(envelope.model_extra)
        total = total if announced is None else announced  # the latest word counts
        if not contacts:
            if total is not None and seen < total:
                # Retryable: contacts leaving the segment mid-listing end it early too.
                raise ResponseError(
                    f"BotPenguin members of segment {segment_id!r}: page {number} was empty "
                    f"after {seen} of the {total} contacts the API announced; the listing "
                    "ended early, try again later.",
                    retryable=True,
                )
            return
        ids = [contact.id for contact in contacts]
        if ids == previous:
            raise ResponseError(
                f"BotPenguin members of segment {segment_id!r}: page {number} repeats page "
                f"{number - 1} (the same {len(ids)} contact ids); stopped, as the server "
                "would never reach an empty page."
            )
        previous = ids
        seen += len(contacts)
        yield MemberPage(segment_id, number, contacts)
    raise ResponseError(
        f"BotPenguin members of segment {segment_id!r}: no empty page after {max_pages} pages "
        f"({seen} contacts); stopped at the page cap."
    )


__all__ = [
    "EMPTY_FILTERS",
    "MAX_PAGES",
    "MEMBERS_PATH",
    "Contact",
    "MemberPage",
    "get_segment_members",
    "iter_members",
    "iter_segment_members",
    "members_request",
    "parse_contacts",
]
