"""The controlled vocabularies with Chinese and English labels."""

from __future__ import annotations

from fastapi import APIRouter

from api.schemas import Term, Vocabularies
from locator import vocab

router = APIRouter(prefix="/v1", tags=["vocabularies"])


@router.get("/vocabularies", response_model=Vocabularies)
def vocabularies() -> Vocabularies:
    """Station kinds, services, groups served, units, statuses, area levels, site types."""
    return Vocabularies(
        **{
            name: [Term(code=code, zh=zh, en=en) for code, (zh, en) in labels.items()]
            for name, labels in vocab.VOCABULARIES.items()
        }
    )
