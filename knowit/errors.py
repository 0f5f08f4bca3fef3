class KnowItError(Exception): """Base class of every error knowit raises on purpose."""
class KnowItConfigError(KnowItError, ValueError): """A config key is missing, misspelled, of the wrong type or out of range."""
class KnowItDataError(KnowItError, ValueError): """A dataset, file or window request cannot be used."""
class KnowItRunError(KnowItError, RuntimeError): """A run cannot start, continue or be loaded."""
