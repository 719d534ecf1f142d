"""Standalone project generation: the file plan of a program, jinja rendering, and per-kind modules.
"""
