"""REST API of the modeling app, one module per area."""
