"""One module per surface: health, public, operator, page."""
