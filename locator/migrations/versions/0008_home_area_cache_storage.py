"""The cached places of the homes stored as they are, not compressed.

A million homes' places are about 16 MB of small integers. PostgreSQL compresses a value that
large (pglz) before storing it out of line: that took three times as long as writing it, on
every first report after the homes or the areas change, and saved little. ``EXTERNAL``
storage keeps it out of line but uncompressed. Rows written before keep their form until
they are rewritten (the next change of versions).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE home_area_cache ALTER COLUMN payload SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE home_area_cache ALTER COLUMN payload SET STORAGE EXTENDED")
