"""Scripts that print figures (`make bench`): cold start, warm path, layer size (design.md D3, D5)."""
