"""A BotPenguin-compatible HTTP server on loopback with invented sample data and scripted faults.

Standard library only and no Prefect, so it starts in milliseconds:
``python -m prefect_botpenguin.sandbox`` serves the sample data in the foreground.
"""

from .data import (
    CUSTOMER_PAGE_SIZE,
    INVALID_OBJECT_ID_MESSAGE,
    MEMBER_PAGE_SIZE,
    SAMPLE_CONTACTS,
    SAMPLE_MEMBERSHIP,
    SAMPLE_SEGMENTS,
    SANDBOX_PARTNER_TOKEN,
    SANDBOX_TOKEN,
    ContactBook,
    GeneratedAudience,
    simulated_accounts,
)
from .faults import Fault
from .server import CONTROL_PREFIX, DEFAULT_PORT, RequestRecord, SandboxServer

__all__ = [
    "CONTROL_PREFIX",
    "CUSTOMER_PAGE_SIZE",
    "DEFAULT_PORT",
    "INVALID_OBJECT_ID_MESSAGE",
    "MEMBER_PAGE_SIZE",
    "SAMPLE_CONTACTS",
    "SAMPLE_MEMBERSHIP",
    "SAMPLE_SEGMENTS",
    "SANDBOX_PARTNER_TOKEN",
    "SANDBOX_TOKEN",
    "ContactBook",
    "Fault",
    "GeneratedAudience",
    "RequestRecord",
    "SandboxServer",
    "simulated_accounts",
]
