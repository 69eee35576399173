"""The client's version (a leaf module, so the client can name itself without importing its package)."""

__version__ = "0.1.0"
