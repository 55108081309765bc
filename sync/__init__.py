"""hubsync: keeps HubSpot consistent with the controller's register for GDPR rights.

The package is the application core: the event model, the domain rules, the
durable ledger, the worker, the intake server and the operator CLI. Code that
speaks to HubSpot or to the register lives in the sibling ``connectors``
package; only ``sync.bootstrap`` imports it.
"""
