"""Folium map builders: pure functions from frames to ``folium.Map`` (callers save or serve).

``maps.coverage`` draws a coverage report, ``maps.layers`` holds one builder per layer,
``maps.offline`` renders a map with the vendored scripts inlined or linked (never a CDN), and
``maps.siting`` draws a siting plan. Nothing here reads the database.
"""
