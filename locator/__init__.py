"""Warm-station locator: the framework-free core.

Stations, worker homes and areas live in PostGIS; this package validates and loads them,
manages the embedded database, and answers queries. It never imports FastAPI or Folium.
"""

__version__ = "0.1.0"
