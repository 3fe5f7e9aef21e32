"""Backends the tests plug in through the service's documented extension points."""
