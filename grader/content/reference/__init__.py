"""Reference implementations, one module per notebook, written from the definitions.

They are kept apart from the solution cells in ``solutions/``: hidden tests compare students with these,
and ``tests/test_reference.py`` proves the solution notebooks agree with them.
"""
