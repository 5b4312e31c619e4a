"""Production profile: PostgreSQL + Redis, replicas behind nginx under supervisord.

- ``settings``      every environment variable of the profile, with the local defaults
- ``databases``     make sure the database exists and a wrong URL fails loudly at start
- ``stores``        the tracker store (strict URL, pre-ping, per-turn metrics and logs)
- ``locks``         a Redis lock store whose read-modify-write steps are atomic
- ``channels``      channel wrappers that measure turns, and ``/webhooks/ops/*``
- ``metrics``       Prometheus metrics (prometheus-client)
- ``logs``          JSON log lines with the conversation id and never a message text
- ``readiness``     database, Redis and model checks
- ``rasa_server``   ``rasa run`` with the auth token taken from the environment
- ``action_server`` the action server with ``/metrics``, ``/ready`` and fault injection
- ``prod``          ``python -m bot.ops.prod``: render configs, migrate, run supervisord
- ``faults``        the faults injected by the load and fault tests
"""
