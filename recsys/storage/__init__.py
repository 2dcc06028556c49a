"""All I/O: the warehouse layout (:mod:`~recsys.storage.warehouse`, the one module that knows
table paths), small objects on a local folder or S3 (:mod:`~recsys.storage.files`), and finding,
probing and reading the raw input files (:mod:`~recsys.storage.raw`). Imported by the steps,
the entry points and the viewer's loaders, never by the library (tests/unit/test_architecture.py).
"""
