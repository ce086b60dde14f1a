"""Adapter for PortOne's V1 REST API: the client, its wire models and its errors."""
