file(REMOVE_RECURSE
  "CMakeFiles/test_iso.dir/unit/test_iso.c.o"
  "CMakeFiles/test_iso.dir/unit/test_iso.c.o.d"
  "test_iso"
  "test_iso.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_iso.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
