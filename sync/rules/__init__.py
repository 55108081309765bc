"""Pure rules: what hubsync decides, kept apart from how it gathers facts and acts.

Each module answers one question from values it is given and returns a value:
no I/O, no ports, no logging, no clock reads (the time is passed in as ``now``),
so each can be read on its own and tested with a table. ``input`` decides
whether a piece of input can be stored (the caps and character classes every
intake applies); ``erasure`` decides which kinds survive an erasure, which
queued events an erasure supersedes and which events it refuses, and builds
the SQL fragments the ledger uses from the same constants; ``retry`` decides
what an attempt's result means for the event (next state, when to retry,
whether the attempt counts, the audit outcome); ``rights`` states the
preconditions of each right (the legal basis an opt-in needs); ``echo``
which writes hubsync remembers and which changes are their echoes;
``authority`` which system wins for a field, in each direction;
``webhook`` what a HubSpot change means, as verdicts over facts already
read; ``batching`` how claimed events become few HubSpot calls; ``transfer``
which writes carry personal data, so the residency guard holds back only
those. The use cases
gather the facts these rules need and carry out what they decide.
"""
