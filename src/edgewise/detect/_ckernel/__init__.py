"""The default detector's kernel in C: its sources, their digest, cffi's build (``build.py``)."""
