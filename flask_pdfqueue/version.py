"""The package's version, where the parts that announce it (webhooks' User-Agent, the
OpenAPI document) and the build read it without importing the package's top."""

__version__ = "0.1.0"
