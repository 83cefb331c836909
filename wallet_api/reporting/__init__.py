"""Statements, reports and charts (JSON, CSV, HTML, SVG)."""
