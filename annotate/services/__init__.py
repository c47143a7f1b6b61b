"""Writes: plain functions named <entity>_<action>, keyword-only arguments, one per change."""
