"""Bulk prediction over folders, globs and lists of images, resumable (issue 13)."""
