"""Instructions to people in the field: broadcast, receipts (received, read, acknowledged),
templates, escalation of the unacknowledged.
"""
