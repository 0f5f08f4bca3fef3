"""knowit.data"""
