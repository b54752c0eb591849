"""Application layer shared by read.py, write.py and REST.py: settings, reports, run logic."""
