"""Settings modules: ``base`` (everything, from the environment), ``local``, ``test``, ``production``."""
