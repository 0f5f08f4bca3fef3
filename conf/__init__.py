"""Hydra configuration shipped with knowit (found as ``pkg://knowit.conf``)."""
