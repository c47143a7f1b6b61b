"""Reads: plain functions named <entity>_<what>, keyword-only arguments, no writes."""
