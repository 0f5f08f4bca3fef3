"""knowit.layers"""
