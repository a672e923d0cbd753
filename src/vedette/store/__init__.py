"""The result store: scans and their observations, in SQLite by default or PostgreSQL by URL.

``codec`` turns model values and scan plans into plain dicts and back; ``db`` keeps them in a
versioned schema (``schema``), with the target spool of fleet scans (``spool``) and the shard
leases of the Dask runner (``shards``). Findings are not stored: they are recomputed from the
stored observations, so a scan analysed again benefits from checks added since.
"""
