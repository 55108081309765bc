"""``hubsync demo``: the whole system on embedded defaults, playing every right both ways.

``scenario`` is what the demo does and checks (register changes through
the outbox, HubSpot changes as its users and forms make them, each effect
looked for where it should show); ``run`` is its runtime: temporary
ledger and register, sandbox, intake server and worker, started and
stopped around the scenario.
"""
