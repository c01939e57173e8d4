"""The catalog of shared resources (政务信息资源目录) with their sharing types, and grants.

- :mod:`.catalog` — resources, sharing decisions, grants and masking.
"""
