"""``python -m curvelog`` runs the CLI."""

from .cli import main

main()
