"""One module per CLI subcommand: ``HELP``, ``configure(parser)``, ``run(namespace) -> exit code``."""
