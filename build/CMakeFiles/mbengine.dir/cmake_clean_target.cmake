file(REMOVE_RECURSE
  "libmbengine.a"
)
