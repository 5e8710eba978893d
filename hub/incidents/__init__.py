"""The incident desk: the closed loop (discover, assign, handle, feed back), its deadlines and
escalation up the tree, the alerts open now, and its HTTP bodies.
"""
