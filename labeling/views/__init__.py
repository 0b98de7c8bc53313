"""HTML/htmx pages of the labeling app, one module per area."""
