"""The people of the district: the tree and who serves where, where field workers are, and each
user's saved settings.
"""
