"""knowit.training"""
