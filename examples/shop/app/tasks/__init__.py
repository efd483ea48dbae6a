"""Background jobs, re-exported for the routes."""

from .emails import send_welcome
from .notify import increment_metric, notify_slack

__all__ = ["increment_metric", "notify_slack", "send_welcome"]
