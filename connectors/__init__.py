"""govex connectors package."""
