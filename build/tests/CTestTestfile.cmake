# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test([=[unit/test_iso]=] "/work/main/build/tests/test_iso")
set_tests_properties([=[unit/test_iso]=] PROPERTIES  _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;8;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test([=[lua/busted]=] "/work/main/build/moonbase" "--lua" "/work/main/tests/run-busted.lua" "--output=TAP" "/work/main/tests/lua")
set_tests_properties([=[lua/busted]=] PROPERTIES  ENVIRONMENT "MOONBASE_BIN=/work/main/build/moonbase;MOONBASE_SRC=/work/main" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;11;add_test;/work/main/tests/CMakeLists.txt;0;")
