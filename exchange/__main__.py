"""``python -m exchange`` is the ``govex`` command."""

from .cli import main

main()
