"""Use cases: each gathers the facts a rule needs, applies the rule, carries out what it decides.

``to_hubspot`` applies claimed events to HubSpot (batched by kind);
``from_hubspot`` turns the stored webhook events into ledger events and the
actions HubSpot's changes call for; ``outbox`` takes the register's outbox
into the ledger; ``subscription_check`` turns opt-outs seen in HubSpot's
statuses into register events; ``access`` puts together everything held on
a subject; ``residency`` asks where the HubSpot account keeps its data.
Each returns results; deciding what a failure means (retry, set aside,
dead-letter) is the worker's job (``sync.worker``, ``sync.rules.retry``).
"""
