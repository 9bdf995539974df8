"""Offline OCR readers (filled in below)."""
