"""Tiny class-conditional diffusion model on scikit-learn's digits, and the two digit verifiers."""
