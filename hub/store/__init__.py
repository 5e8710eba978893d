"""The system of record every hub node shares: the event log and its events, the live bus, the
Redis link between nodes, camera leases, and replays keyed by Idempotency-Key.
"""
