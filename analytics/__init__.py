"""keyfunnel: pipeline analytics for key-account (enterprise B2B) sales.

The package never imports streamlit, so the CLI, notebooks and tests use it without a browser.
"""

__version__ = "0.1.0"
