"""The emotion network and its runtime."""
