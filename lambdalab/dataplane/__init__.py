"""The data plane: a moto server on 127.0.0.1, the resources a template provisions in it, and the
patches the engine applies to moto."""
