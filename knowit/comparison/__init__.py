"""Honest comparison: naive baselines and skill, paired tests between runs, repeats, backtests."""
