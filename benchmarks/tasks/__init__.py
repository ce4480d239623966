"""Seeded task generators with train/test splits disjoint by construction."""
