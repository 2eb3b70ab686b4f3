"""FastAPI web service: thin adapters over the :mod:`locator` core."""
