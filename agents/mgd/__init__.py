"""Monitor-guided decoding internals: token trie, Jedi monitor, logits processor."""
