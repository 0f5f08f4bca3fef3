"""knowit: config-driven deep-learning experiments on sequences."""
