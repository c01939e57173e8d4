"""One module per concern, each with one router."""
