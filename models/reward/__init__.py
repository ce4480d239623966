"""Reward models for ttc's verifiers (`reward_model`), and the scripts that train them."""
