"""knowit.config"""
