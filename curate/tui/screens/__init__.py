"""Screens: one module per screen of the TUI, plus dialogs and help."""
