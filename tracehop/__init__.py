"""tracehop: answer robocall traceback inquiries automatically from a provider's own records.

The library and the ``tracehop`` command share one code base: ``tracehop.cli`` is a thin click
layer over the modules listed in DESIGN.md §2.
"""

__version__ = "0.1.0"
