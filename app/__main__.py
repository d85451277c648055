"""``python -m app ...`` runs the ``citizencard`` command (where the console script is not on PATH)."""
from app.cli import main

if __name__ == "__main__":
    main()
