import logging

import requests

log = logging.getLogger(__name__)
METRICS: dict = {}


def notify_slack(text: str) -> None:
    requests.post("https://hooks.slack.example/T000", json={"text": text}, timeout=5)


def increment_metric(name: str) -> None:
    METRICS[name] = METRICS.get(name, 0) + 1
    log.info("metric %s", name)


async def forward_event(payload: dict) -> None:
    """Async, yet it posts with the sync requests client: the event loop stalls."""
    requests.post("https://events.example/in", json=payload, timeout=5)
