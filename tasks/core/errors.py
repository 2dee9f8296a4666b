"""Every way a BotPenguin call can fail, as one exception tree.

    BotPenguinError                 base: catch this to handle any failure of the pack
    ├── ConfigurationError          settings are unusable; fix the configuration, nothing was sent
    │   ├── MissingTokenError       no API token configured; nothing was sent
    │   └── TLSCertificateError     the API host's TLS certificate is not trusted; nothing was sent
    ├── AuthenticationError         the API refused the token (401, 403, malformed token)
    ├── RequestRejectedError        the API refused the request (other 4xx, redirects)
    ├── RateLimitedError            429 beyond what the retry policy will wait for
    ├── TransientError              a temporary failure that outlasted the retry budget
    │   ├── ServerError             5xx from the API
    │   ├── APITimeoutError         no answer within the configured timeouts
    │   └── APIConnectionError      host unreachable, connection dropped or body truncated
    ├── ResponseError               the API answered 2xx but not with a valid envelope
    ├── ExportError                 an export could not be serialised or written; the old one stays
    ├── SnapshotError               a change-detection snapshot could not be read or written
    ├── ChangeDetectionError        two fetches cannot be compared (e.g. a segment id twice)
    ├── EventDeliveryError          change events did not reach the Prefect API; snapshot kept
    ├── NotificationError           a notification target is unknown or refused the message
    ├── WatchLockError              another watch of the same account is running; nothing done
    ├── FanoutFailedError           some accounts of a fan-out failed; the others were saved
    └── SyncStepsFailedError        several steps of a sync failed; each is named

Every message is one line a user can act on and never contains the API token.
``retryable`` tells Prefect's task-level retry filter whether another whole fetch may help.
"""

from __future__ import annotations


class BotPenguinError(Exception):
    """A BotPenguin operation failed; the message says what to do."""

    retryable: bool = False

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class ConfigurationError(BotPenguinError):
    """The settings cannot work (bad base URL, bad timeout); nothing was sent."""


class MissingTokenError(ConfigurationError):
    """No API token is configured; nothing was sent."""


class TLSCertificateError(ConfigurationError):
    """The API host's certificate is not trusted (unknown CA, wrong host, expired).

    Never retried: trust is configuration (``BOTPENGUIN_CA_BUNDLE`` or ``SSL_CERT_FILE``).
    """


class AuthenticationError(BotPenguinError):
    """The API refused the token: wrong, revoked, malformed, or the authtype header missing."""


class RequestRejectedError(BotPenguinError):
    """The API refused the request itself (4xx other than auth and 429); retrying will not help."""


class RateLimitedError(BotPenguinError):
    """The API kept answering 429, or asked for a longer wait than the policy allows."""

    retryable = True


class TransientError(BotPenguinError):
    """A temporary failure that lasted longer than the client's retry budget."""

    retryable = True


class ServerError(TransientError):
    """The API answered 5xx on every attempt."""


class APITimeoutError(TransientError):
    """The API did not answer within the configured timeouts."""


class APIConnectionError(TransientError):
    """The host could not be reached, or the connection broke before the whole body arrived."""


class ResponseError(BotPenguinError):
    """The API answered 2xx with a body that is not a valid BotPenguin envelope."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retryable = retryable


class ExportError(BotPenguinError):
    """Segments could not be exported; the previous export at that destination is unchanged."""


class SnapshotError(BotPenguinError):
    """A snapshot could not be read or written; a previous snapshot is left as it was."""


class ChangeDetectionError(BotPenguinError):
    """Two lists of segments cannot be compared, or a diff does not apply to its base."""


class EventDeliveryError(BotPenguinError):
    """Change events did not reach the Prefect API, so the snapshot was not advanced."""

    retryable = True


class NotificationError(BotPenguinError):
    """A notification target is unknown, invalid or refused the message (names it, no secrets)."""


class WatchLockError(BotPenguinError):
    """Another watch of the same account held its lock too long; this run changed nothing."""

    retryable = True


class FanoutFailedError(BotPenguinError):
    """Some accounts of a fan-out failed; every other account was collected and saved.

    ``failures`` holds ``(account label, one-line error)`` pairs, never a token.
    """

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])

    def __reduce__(self) -> tuple[type[FanoutFailedError], tuple[str, list[tuple[str, str]]]]:
        # Prefect may pickle a failed run's exception; keep the failures through the round trip.
        return (type(self), (self.message, self.failures))


class SyncStepsFailedError(BotPenguinError):
    """More than one step of a sync run failed; the message names each with its reason."""


__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BotPenguinError",
    "ChangeDetectionError",
    "ConfigurationError",
    "EventDeliveryError",
    "ExportError",
    "FanoutFailedError",
    "MissingTokenError",
    "NotificationError",
    "RateLimitedError",
    "RequestRejectedError",
    "ResponseError",
    "ServerError",
    "SnapshotError",
    "SyncStepsFailedError",
    "TLSCertificateError",
    "TransientError",
    "WatchLockError",
]
