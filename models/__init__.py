"""Tiny models trained by ttc itself (weights in models/<name>/) and their scripts."""
