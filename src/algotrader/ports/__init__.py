"""Ports: the protocols adapters implement (typing Protocols and value objects only)."""
