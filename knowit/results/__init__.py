"""knowit.results"""
