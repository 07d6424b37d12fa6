"""tracehop: answer robocall traceback inquiries automatically from a provider's own records.

The library and the ``tracehop`` command share one code base: ``tracehop.cli`` is a thin click
layer over the modules listed in DESIGN.md §2.
"""

from tracehop import allocators

# Before any module of tracehop loads Polars or pyarrow: they read these settings once, when
# they load (see tracehop.allocators for what they save and what they cost).
allocators.apply()

__version__ = "0.1.0"
