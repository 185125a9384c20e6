# Empty dependencies file for mbengine.
# This may be replaced when dependencies are built.
