"""Settings split: base (embedded defaults), test, production."""
