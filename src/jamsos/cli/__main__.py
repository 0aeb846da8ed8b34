"""``python -m jamsos.cli``: the same as the ``jamsos`` command."""

from jamsos.cli.main import app

app()
