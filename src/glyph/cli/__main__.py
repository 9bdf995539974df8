"""``python -m glyph.cli``: what ``accelerate launch -m glyph.cli train ...`` runs on every process."""

from glyph.cli import main

main()
