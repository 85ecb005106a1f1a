"""The service: the composition root that builds the components for every command, the feed loop from sources
through validation to the engine, the scheduler, the HTTP API, the demo and the backtest."""
