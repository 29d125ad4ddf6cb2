"""Widgets: they hold attributes set by their screen and only render."""
