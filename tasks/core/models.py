"""The segment model and the response envelope.

BotPenguin publishes only three segment fields (``_id``, ``_customer``, ``segmentName``);
everything else an account sends is kept as-is so exports and diffs never lose data.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from .errors import ResponseError

RETRYABLE_ENVELOPE_CODES = frozenset({429, 500, 502, 503, 504})
RECORD_KEYS = ("id", "name", "customer_id")
DOCUMENTED_OPTIONAL_FIELDS = {"customer_id": "_customer", "name": "segmentName"}


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
    # Which documented optional fields the API sent, recorded only for the rare segment whose
    # unknown fields are named like our attributes (then fields-set cannot tell); None reads
    # it from fields-set. A validator doing this for every segment cost 7x the validation.
    _documented_sent: frozenset[str] | None = PrivateAttr(default=None)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Segment:
        """Validate one API segment object, remembering exactly which fields it carried."""
        return _remember_documented_fields(item, cls.model_validate(item))

    @property
    def extra(self) -> dict[str, Any]:
        """Fields the API sent beyond the three documented ones, in the order received."""
        return dict(self.model_extra or {})

    def to_api_dict(self) -> dict[str, Any]:
        """The segment as the API sent it (API field names), for snapshots and round-trips.

        A documented field the API left out stays out (it is not invented as ``null``), so a
        snapshot holds what was sent and a diff tells "missing" from ``null``.
        """
        data = self.model_dump(by_alias=True, mode="json")
        sent = self._documented_sent
        if sent is None:
            sent = frozenset(
                key
                for field, key in DOCUMENTED_OPTIONAL_FIELDS.items()
                if field in self.model_fields_set
            )
        for key in DOCUMENTED_OPTIONAL_FIELDS.values():
            if key not in sent and data[key] is None:  # a value set in Python is kept
                del data[key]
        return data

    def to_record(self) -> dict[str, Any]:
        """Flat record for tables and exports: ``id, name, customer_id`` then the other fields.

        An unknown field that happens to be called ``id``, ``name`` or ``customer_id`` is kept
        as ``api.<name>`` rather than overwriting the documented value.
        """
        record: dict[str, Any] = {"id": self.id, "name": self.name, "customer_id": self.customer_id}
        for key, value in self.extra.items():
            record[f"api.{key}" if key in RECORD_KEYS else key] = value
        return record


def _remember_documented_fields(item: dict[str, Any], segment: Segment) -> Segment:
    """Record the documented fields ``item`` carried, when its unknown fields hide that."""
    if "name" in item or "customer_id" in item:
        sent = frozenset(DOCUMENTED_OPTIONAL_FIELDS.values()).intersection(item)
        segment._documented_sent = sent
    return segment


def _segments_as_sent(value: Any, handler: ValidatorFunctionWrapHandler) -> tuple[Segment, ...]:
    """Validate a whole list in pydantic-core, then note clashing fields in one cheap pass."""
    segments: tuple[Segment, ...] = handler(value)
    if isinstance(value, list | tuple):
        for item, segment in zip(value, segments, strict=False):
            if isinstance(item, dict):
                _remember_documented_fields(item, segment)
    return segments


SegmentTuple = Annotated[tuple[Segment, ...], WrapValidator(_segments_as_sent)]
"""Field type for segment lists read from JSON (snapshots): exact like the API's objects."""
_SEGMENT_LIST: TypeAdapter[tuple[Segment, ...]] = TypeAdapter(SegmentTuple)


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
    try:
        # One pass in pydantic-core: about 3x faster than validating item by item, which
        # matters for accounts with tens of thousands of segments (see BENCHMARKS.md).
        return list(_SEGMENT_LIST.validate_python(data))
    except ValidationError:
        pass  # find the first bad segment below, to name it in the message
    segments = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ResponseError(
                f"BotPenguin segment #{index} is a {type(item).__name__}, not an object.",
                status_code=status_code,
            )
        try:
            segments.append(Segment.from_api(item))
        except ValidationError as exc:
            problems = "; ".join(_field_problem(item, error) for error in exc.errors())
            raise ResponseError(
                f"BotPenguin segment #{index} {problems}; the API may have changed, please "
                "report it.",
                status_code=status_code,
            ) from None
    return segments


_FIELD_RULES = {
    "_id": "a non-empty string (every segment needs one)",
    "_customer": "a string or null",
    "segmentName": "a string or null",
}


def _field_problem(item: dict[str, Any], error: Any) -> str:
    """One validation error as "has 'segmentName' of type int, expected a string or null"."""
    field = str(error["loc"][0]) if error["loc"] else "?"
    expected = _FIELD_RULES.get(field, "a valid value")
    if field not in item:
        return f"has no '{field}', expected {expected}"
    if error["type"] == "string_too_short":
        return f"has an empty '{field}', expected {expected}"
    return f"has '{field}' of type {type(item[field]).__name__}, expected {expected}"
