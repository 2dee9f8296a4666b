"""prefect-botpenguin: Prefect tasks, blocks and a client for BotPenguin segments.

Everything a flow author needs is importable from here. The Prefect-free layer (client,
models, settings, errors) can be used on its own from ``tasks.client``.
"""

from tasks.artifacts import publish_segments_artifact, segments_artifact_key
from tasks.change_summary import ChangeMessage, describe_changes, publish_changes_artifact
from tasks.changes import emit_change_events
from tasks.client import BotPenguinClient
from tasks.credentials import BotPenguinCredentials
from tasks.diff import SegmentChange, SegmentDiff, apply_diff, diff_segments
from tasks.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BotPenguinError,
    ChangeDetectionError,
    ConfigurationError,
    EventDeliveryError,
    ExportError,
    FanoutFailedError,
    MissingTokenError,
    NotificationError,
    RateLimitedError,
    RequestRejectedError,
    ResponseError,
    ServerError,
    SnapshotError,
    SyncStepsFailedError,
    TransientError,
)
from tasks.exports import ExportResult, export_segments, write_export
from tasks.fanout import (
    AccountOutcome,
    FanoutAccount,
    FanoutReport,
    FanoutSummary,
    collect_segments,
    fetch_segments_fanout,
    publish_fanout_artifacts,
)
from tasks.formats import ExportFormat
from tasks.models import Segment
from tasks.notifications import check_notification_targets, send_notification
from tasks.retry import RetryPolicy
from tasks.segments import fetch_segments, retry_only_transient_failures
from tasks.settings import BotPenguinSettings
from tasks.snapshots import Snapshot, load_segments_snapshot, save_segments_snapshot

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AccountOutcome",
    "AuthenticationError",
    "BotPenguinClient",
    "BotPenguinCredentials",
    "BotPenguinError",
    "BotPenguinSettings",
    "ChangeDetectionError",
    "ChangeMessage",
    "ConfigurationError",
    "EventDeliveryError",
    "ExportError",
    "ExportFormat",
    "ExportResult",
    "FanoutAccount",
    "FanoutFailedError",
    "FanoutReport",
    "FanoutSummary",
    "MissingTokenError",
    "NotificationError",
    "RateLimitedError",
    "RequestRejectedError",
    "ResponseError",
    "RetryPolicy",
    "Segment",
    "SegmentChange",
    "SegmentDiff",
    "ServerError",
    "Snapshot",
    "SnapshotError",
    "SyncStepsFailedError",
    "TransientError",
    "apply_diff",
    "check_notification_targets",
    "collect_segments",
    "describe_changes",
    "diff_segments",
    "emit_change_events",
    "export_segments",
    "fetch_segments",
    "fetch_segments_fanout",
    "load_segments_snapshot",
    "publish_changes_artifact",
    "publish_fanout_artifacts",
    "publish_segments_artifact",
    "retry_only_transient_failures",
    "save_segments_snapshot",
    "segments_artifact_key",
    "send_notification",
    "write_export",
]
