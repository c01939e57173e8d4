"""govex signing package."""
