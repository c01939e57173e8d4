"""``python -m exchange`` is the ``govex`` command."""

from exchange.cli.main import main

main()
