"""knowit.plots"""
