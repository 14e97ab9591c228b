"""TTS engines behind one interface (engines.base.Engine); registry.build_engine picks one by config."""
