# Empty dependencies file for test_iso.
# This may be replaced when dependencies are built.
