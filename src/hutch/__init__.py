"""hutch: system containers for Linux.

The library API is `hutch.container`; `hutch.cli` and `hutch.daemon` are the only
entry points that print, exit or parse argv (see ARCHITECTURE.md).
"""

__version__ = "0.1.0"
