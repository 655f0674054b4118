"""ser-live."""
