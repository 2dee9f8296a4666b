"""The segment model and the response envelope.

BotPenguin publishes only three segment fields (``_id``, ``_customer``, ``segmentName``);
everything else an account sends is kept as-is so exports and diffs never lose data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)

from .errors import ResponseError

RETRYABLE_ENVELOPE_CODES = frozenset({429, 500, 502, 503, 504})
RECORD_KEYS = ("id", "name", "customer_id")
DOCUMENTED_OPTIONAL_FIELDS = {"customer_id": "_customer", "name": "segmentName"}


class Segment(BaseModel):
    """One saved audience. Unknown fields are kept in ``extra`` with their API names.

    What the API sent is the one source of truth: a validator records which documented
    optional fields an object carried, and every way out -- ``to_api_dict``, ``model_dump``,
    ``model_dump_json`` -- writes API names and leaves out what was not sent, so
    ``Segment.model_validate_json(segment.model_dump_json())`` gives the same segment back,
    whichever constructor built it, and nothing invents a ``segmentName: null``.
    """

    # defer_build: the validator is built on first use, not at import (benchmarks/NOTES.md, d)
    model_config = ConfigDict(extra="allow", frozen=True, serialize_by_alias=True, defer_build=True)

    id: StrictStr = Field(alias="_id", min_length=1, description="Segment ObjectId.")
    customer_id: StrictStr | None = Field(
        default=None, alias="_customer", description="ObjectId of the owning customer account."
    )
    name: StrictStr | None = Field(
        default=None, alias="segmentName", description="Segment name as shown in BotPenguin."
    )
    # The documented optional fields (API names) the object carried, recorded only when an
    # unknown field is named like one of our attributes: pydantic's fields-set mixes field
    # names with extra keys, so an unknown "name" would read as "segmentName was sent".
    # Otherwise nothing is recorded (read fields-set). The record lives in pydantic's private
    # slot, set only on those segments: a declared private attribute makes pydantic
    # initialise it on every one of 100,000 segments, which cost more than validating them.

    @model_validator(mode="wrap")
    @classmethod
    def _record_documented_fields(
        cls, data: Any, handler: ModelWrapValidatorHandler[Segment]
    ) -> Segment:
        segment = handler(data)
        if isinstance(data, Mapping):
            if "name" in data or "customer_id" in data:
                _set_documented_sent(segment, _DOCUMENTED_KEYS.intersection(data))
        elif isinstance(data, Segment) and data is not segment:
            sent = _documented_sent(data)
            if sent is not None:
                _set_documented_sent(segment, sent)
        return segment

    def _sent_documented_keys(self) -> frozenset[str]:
        """API names of the documented optional fields the API sent (see the note above)."""
        sent = _documented_sent(self)
        if sent is not None:
            return sent
        return frozenset(
            key
            for field, key in DOCUMENTED_OPTIONAL_FIELDS.items()
            if field in self.model_fields_set
        )

    @model_serializer(mode="wrap")
    def _as_sent(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if isinstance(data, dict) and info.by_alias is not False:
            for key in _DOCUMENTED_KEYS - self._sent_documented_keys():
                if data.get(key, 0) is None:  # a value set in Python is kept
                    del data[key]
        return data

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Segment:
        """Validate one API segment object (the same as ``model_validate``)."""
        return cls.model_validate(item)

    @property
    def extra(self) -> dict[str, Any]:
        """Fields the API sent beyond the three documented ones, in the order received."""
        return dict(self.model_extra or {})

    def to_api_dict(self) -> dict[str, Any]:
        """The segment as the API sent it (API field names), for snapshots and round-trips.

        A documented field the API left out stays out (it is not invented as ``null``), so a
        snapshot holds what was sent and a diff tells "missing" from ``null``.
        """
        return self.model_dump(mode="json")

    def to_record(self) -> dict[str, Any]:
        """Flat record for tables and exports: ``id, name, customer_id`` then the other fields.

        An unknown field that happens to be called ``id``, ``name`` or ``customer_id`` is kept
        as ``api.<name>`` rather than overwriting the documented value.
        """
        extra = self.__pydantic_extra__ or {}
        if extra.keys().isdisjoint(RECORD_KEYS):  # the usual case: one dict, values shared
            return {"id": self.id, "name": self.name, "customer_id": self.customer_id, **extra}
        record: dict[str, Any] = {"id": self.id, "name": self.name, "customer_id": self.customer_id}
        for key, value in extra.items():
            record[f"api.{key}" if key in RECORD_KEYS else key] = value
        return record


_DOCUMENTED_KEYS = frozenset(DOCUMENTED_OPTIONAL_FIELDS.values())
_SENT = "documented_sent"


def _documented_sent(segment: Segment) -> frozenset[str] | None:
    """What ``_record_documented_fields`` recorded for ``segment``, if anything."""
    private = segment.__pydantic_private__
    return None if private is None else private.get(_SENT)


def _set_documented_sent(segment: Segment, sent: frozenset[str]) -> None:
    # The model is frozen and declares no private attributes: write pydantic's slot directly.
    object.__setattr__(segment, "__pydantic_private__", {_SENT: sent})


SegmentTuple = tuple[Segment, ...]
"""Field type for segment lists read from JSON (snapshots)."""
_SEGMENT_LIST: TypeAdapter[tuple[Segment, ...]] = TypeAdapter(
    SegmentTuple, config=ConfigDict(defer_build=True)
)


class Envelope(BaseModel):
    """``{"success", "message", "data", "code"}``: the wrapper around every BotPenguin answer."""

    model_config = ConfigDict(extra="allow", defer_build=True)

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
