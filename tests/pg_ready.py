"""Exit 0 when the PostgreSQL server at the URL given answers (used by the Makefile)."""

from __future__ import annotations

import sys

import sqlalchemy as sa


def main(url: str) -> int:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return 0
    except sa.exc.OperationalError:
        return 1
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
