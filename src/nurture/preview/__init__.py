"""``/preview/`` in ``nurture serve``: every email of every sequence, per locale and variant."""
