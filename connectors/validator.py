"""The record check a connector runs before the outbox (shared with the exchange)."""

from schemas.validation import RecordValidator

__all__ = ["RecordValidator"]
