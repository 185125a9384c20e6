# Empty dependencies file for moonbase.
# This may be replaced when dependencies are built.
