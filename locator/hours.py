"""Opening hours in OpenStreetMap's ``opening_hours`` syntax."""

from __future__ import annotations

import opening_hours


def syntax_problem(expression: str) -> str | None:
    """Return why ``expression`` is not valid ``opening_hours`` syntax, or None when it is."""
    try:
        opening_hours.OpeningHours(expression)
    except opening_hours.ParserError as exc:
        first = str(exc).strip().splitlines()
        detail = first[-1].strip(" =") if first else "cannot be parsed"
        return f"not valid OSM opening_hours syntax ({detail})"
    return None
