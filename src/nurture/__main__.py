"""``python -m nurture`` is the ``nurture`` command."""

from nurture.cli import app

app()
