"""One exception tree for everything TraceBridge raises on purpose.

Every error carries a stable ``code`` (documented in ``docs/error-codes.md``) so
that the CLI, the API and the dead-letter store can report it the same way.
Adapters translate foreign exceptions into these with ``raise ... from e``.
"""

from __future__ import annotations


class TraceBridgeError(Exception):
    """Root of every deliberate TraceBridge error."""

    code = "tracebridge-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidIdentifier(TraceBridgeError, ValueError):
    """A GTIN, GLN, SSCC, UDI or other identifier failed validation."""

    code = "invalid-identifier"


class InvalidEvent(TraceBridgeError, ValueError):
    """A canonical event is not well formed."""

    code = "invalid-event"


class IllegalTransition(TraceBridgeError):
    """A lot status change that the lot state machine does not allow."""

    code = "illegal-transition"


class DictionaryError(TraceBridgeError):
    """The data dictionary files are inconsistent or malformed."""

    code = "dictionary-invalid"


class MappingError(TraceBridgeError):
    """A mapping file is malformed, or a record could not be mapped."""

    code = "mapping-failed"


class NotFound(TraceBridgeError):
    """Nothing matches the identifier; ``suggestions`` holds the nearest matches."""

    code = "not-found"

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.suggestions = suggestions or []


class Ambiguous(TraceBridgeError):
    """An identifier matches more than one thing (e.g. a lot number used by two GTINs)."""

    code = "ambiguous-identifier"

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class AppendOnlyViolation(TraceBridgeError):
    """Someone tried to change or delete history."""

    code = "append-only"


class StoreError(TraceBridgeError):
    """The event store could not complete an operation."""

    code = "store-error"


class SimulationError(TraceBridgeError):
    """The plant simulator was given settings it cannot use."""

    code = "simulation-invalid"


# ---- connectors in (REST, drop folder) and the dead-letter store


class Unauthorized(TraceBridgeError):
    """A connector call without the source's API key, or with a wrong one."""

    code = "unauthorized"


class PayloadTooLarge(TraceBridgeError):
    """A posted batch exceeds the byte or record limit."""

    code = "payload-too-large"


class UnsupportedSource(TraceBridgeError):
    """A source cannot be used this way (e.g. posting JSON to a source with a CSV mapping)."""

    code = "unsupported-source"


class DeadLetterClosed(TraceBridgeError):
    """A dead letter that was already retried or discarded cannot be acted on again."""

    code = "dead-letter-closed"


class ReasonRequired(TraceBridgeError, ValueError):
    """Discarding a dead letter needs an actor and a reason."""

    code = "reason-required"


class ConnectorError(TraceBridgeError):
    """A connector (message broker, database poller) is misconfigured or its source failed."""

    code = "connector-failed"


# ---- recall workflow


class RecallNotFound(NotFound):
    """No recall has the number given."""

    code = "recall-not-found"


class IllegalRecallTransition(IllegalTransition):
    """A recall step its status does not allow (e.g. recording a response after closing)."""

    code = "recall-step-refused"


class InvalidRecallInput(InvalidIdentifier):
    """A recall's class, depth, level, scope or response is malformed."""

    code = "recall-input-invalid"


# ---- quality rules and alerts


class RuleError(TraceBridgeError):
    """A rule file is malformed: bad YAML, an unknown field, or a CEL syntax or type error.

    The message names ``file:line`` (and the CEL column with a caret); nothing of the
    file is applied.
    """

    code = "rule-invalid"


class AlertTransitionError(TraceBridgeError):
    """An alert cannot move to the asked status (e.g. acknowledging a resolved alert)."""

    code = "alert-transition"


# ---- ERP/WMS reconciliation


class ReconciliationConfigError(TraceBridgeError):
    """The reconciliation tolerances file is unreadable or malformed."""

    code = "reconciliation-config-invalid"


class FindingNotFound(NotFound):
    """No reconciliation finding has the id given."""

    code = "finding-not-found"
