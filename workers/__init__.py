"""Job entry points that RQ workers import by dotted path."""
