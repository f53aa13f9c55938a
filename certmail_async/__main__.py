"""``python -m certmail_async ...`` runs the ``certmail`` command."""

from .cli import main

main()
