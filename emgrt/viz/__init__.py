"""PNG plots (matplotlib, Agg backend)."""
