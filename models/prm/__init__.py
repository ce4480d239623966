"""Process reward models for the `prm` verifier, and the script that trains them."""
