"""``python -m cogen_aio``: see ``cogen_aio.cli``."""

from __future__ import annotations

from cogen_aio.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
