"""The built-in handlers; importing this package registers them."""

from stopit_mail.processing.handlers import (  # noqa: F401
    acknowledge,
    analyse_headers,
    arrivals,
    check_size,
    classify_arrival,
    escalate,
    evidence,
    page_ack,
    parse_message,
    seal_identity,
    triage,
)
