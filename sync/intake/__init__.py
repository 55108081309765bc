"""The HTTP intake: HubSpot webhooks and register events in, health and metrics out.

``app`` builds the Starlette app (``build_app``, with ``IntakeOptions``
and the ``Readiness`` it answers ``/readyz`` from); ``envelope_json`` is
the one parser of a JSON event into an envelope, with the rules of
``POST /v1/events`` (the register outbox reads its rows with it too);
``openapi`` describes the POST endpoints; ``metrics`` serves Prometheus
text. ``sync.signing`` and ``sync.serve`` stay outside: the register
connector and the sandbox use them as well.
"""

from sync.intake.app import IntakeOptions, Readiness, build_app

__all__ = ["IntakeOptions", "Readiness", "build_app"]
