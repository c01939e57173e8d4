"""govex exchange package."""
