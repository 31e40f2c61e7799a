"""Service functions: what a view (or the CLI) calls; one per user-visible operation."""
