"""The segment model and the response envelope.

BotPenguin publishes only three segment fields (``_id``, ``_customer``, ``segmentName``);
everything else an account sends is kept as-is so exports and diffs never lose data.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from tasks.errors import ResponseError

RETRYABLE_ENVELOPE_CODES = frozenset({429, 500, 502, 503, 504})
RECORD_KEYS = ("id", "name", "customer_id")


class Segment(BaseModel):
    """One saved audience. Unknown fields are kept in ``extra`` with their API names."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: StrictStr = Field(alias="_id", min_length=1, description="Segment ObjectId.")
    customer_id: StrictStr | None = Field(
        default=None, alias="_customer", description="ObjectId of the owning customer account."
    )
    name: StrictStr | None = Field(
        default=None, alias="segmentName", description="Segment name as shown in BotPenguin."
    )

    @property
    def extra(self) -> dict[str, Any]:
        """Fields the API sent beyond the three documented ones, in the order received."""
        return dict(self.model_extra or {})

    def to_api_dict(self) -> dict[str, Any]:
        """The segment as the API sent it (API field names), for snapshots and round-trips."""
        return self.model_dump(by_alias=True, mode="json", exclude_none=False)

    def to_record(self) -> dict[str, Any]:
        """Flat record for tables and exports: ``id, name, customer_id`` then the other fields.

        An unknown field that happens to be called ``id``, ``name`` or ``customer_id`` is kept
        as ``api.<name>`` rather than overwriting the documented value.
        """
        record: dict[str, Any] = {"id": self.id, "name": self.name, "customer_id": self.customer_id}
        for key, value in self.extra.items():
            record[f"api.{key}" if key in RECORD_KEYS else key] = value
        return record


class Envelope(BaseModel):
    """``{"success", "message", "data", "code"}``: the wrapper around every BotPenguin answer."""

    model_config = ConfigDict(extra="allow")

    success: StrictBool
    message: str | list[Any] | None = ""
    data: Any = None
    code: int | None = None


def parse_envelope(payload: Any, *, status_code: int) -> Envelope:
    """Validate the envelope shape; ``success: false`` becomes a ``ResponseError``."""
    if not isinstance(payload, dict):
        raise ResponseError(
            f"BotPenguin answered HTTP {status_code} with JSON that is not an object "
            f"({type(payload).__name__}); check BOTPENGUIN_BASE_URL points at the API host.",
            status_code=status_code,
        )
    try:
        envelope = Envelope.model_validate(payload)
    except ValidationError:
        raise ResponseError(
            f"BotPenguin answered HTTP {status_code} without a valid 'success' flag; "
            "check BOTPENGUIN_BASE_URL points at the API host.",
            status_code=status_code,
        ) from None
    return envelope


def parse_segments(data: Any, *, status_code: int = 200) -> list[Segment]:
    """Turn the envelope's ``data`` into segments, refusing anything that is not a list of them."""
    if not isinstance(data, list):
        raise ResponseError(
            f"BotPenguin segments response has 'data' of type {type(data).__name__}, "
            "expected a list; the API may have changed, please report it.",
            status_code=status_code,
        )
    segments: list[Segment] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ResponseError(
                f"BotPenguin segment #{index} is a {type(item).__name__}, not an object.",
                status_code=status_code,
            )
        try:
            segments.append(Segment.model_validate(item))
        except ValidationError as exc:
            fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
            raise ResponseError(
                f"BotPenguin segment #{index} has a missing or invalid {fields or 'field'}; "
                "every segment needs a string '_id'.",
                status_code=status_code,
            ) from None
    return segments
