"""Who may do what: logins and tokens, sessions and their revocation, the route policy, rate limits
and lockouts, and the record of who watched which camera.
"""
