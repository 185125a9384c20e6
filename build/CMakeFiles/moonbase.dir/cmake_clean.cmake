file(REMOVE_RECURSE
  "CMakeFiles/moonbase.dir/engine/main.c.o"
  "CMakeFiles/moonbase.dir/engine/main.c.o.d"
  "moonbase"
  "moonbase.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/moonbase.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
