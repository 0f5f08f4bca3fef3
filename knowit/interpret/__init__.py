"""knowit.interpret"""
