"""`python -m flake8_fastapi_bg`: the standalone command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
