"""Register connectors: the controller's register behind one port (``sync.ports.Register``).

- ``http.HttpRegister``: the register's HTTP API, signed like hubsync's ``/v1/events``.
- ``sql.SqlRegister``: a customers table, a ``dsr_outbox`` table and a notices
  table on SQLite or PostgreSQL (the demo register is one on SQLite).
- ``fake.FakeRegister``: the same behaviour in memory, for tests of the core.

``effects`` holds the decisions the SQL and fake registers share; ``wire``
the JSON forms; ``sqldb`` the database connection and its error translation.
"""
