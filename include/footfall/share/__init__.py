"""Sharing occupancy: the public read API (`/v1/public/...`), partner keys, and the embeddable widget."""
