"""HTML pages of the modeling app, one module per area."""
