"""Config: schemas, validation and composition (one path for the CLI, the API and sweeps)."""
from knowit.config.run_config import ArchSpec, RunConfig, validate

__all__ = ["ArchSpec", "RunConfig", "validate"]
