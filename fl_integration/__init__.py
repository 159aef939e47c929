"""fl_integration."""
