"""prefect-botpenguin: Prefect tasks, blocks and a client for BotPenguin segments.

Everything a flow author needs is importable from here. The Prefect-free layer (client,
models, settings, errors) can be used on its own from ``tasks.client``.
"""

from tasks.artifacts import publish_segments_artifact, segments_artifact_key
from tasks.client import BotPenguinClient
from tasks.credentials import BotPenguinCredentials
from tasks.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BotPenguinError,
    ConfigurationError,
    MissingTokenError,
    RateLimitedError,
    RequestRejectedError,
    ResponseError,
    ServerError,
    TransientError,
)
from tasks.models import Segment
from tasks.retry import RetryPolicy
from tasks.segments import fetch_segments, retry_only_transient_failures
from tasks.settings import BotPenguinSettings

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BotPenguinClient",
    "BotPenguinCredentials",
    "BotPenguinError",
    "BotPenguinSettings",
    "ConfigurationError",
    "MissingTokenError",
    "RateLimitedError",
    "RequestRejectedError",
    "ResponseError",
    "RetryPolicy",
    "Segment",
    "ServerError",
    "TransientError",
    "fetch_segments",
    "publish_segments_artifact",
    "retry_only_transient_failures",
    "segments_artifact_key",
]
