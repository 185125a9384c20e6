
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/drivers/test/test_driver.c" "CMakeFiles/mbengine.dir/drivers/test/test_driver.c.o" "gcc" "CMakeFiles/mbengine.dir/drivers/test/test_driver.c.o.d"
  "/work/main/build/embedded_lua.c" "CMakeFiles/mbengine.dir/embedded_lua.c.o" "gcc" "CMakeFiles/mbengine.dir/embedded_lua.c.o.d"
  "/work/main/engine/driver.c" "CMakeFiles/mbengine.dir/engine/driver.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/driver.c.o.d"
  "/work/main/engine/error.c" "CMakeFiles/mbengine.dir/engine/error.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/error.c.o.d"
  "/work/main/engine/fs.c" "CMakeFiles/mbengine.dir/engine/fs.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/fs.c.o.d"
  "/work/main/engine/iso.c" "CMakeFiles/mbengine.dir/engine/iso.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/iso.c.o.d"
  "/work/main/engine/lua_driver.c" "CMakeFiles/mbengine.dir/engine/lua_driver.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/lua_driver.c.o.d"
  "/work/main/engine/lua_embed.c" "CMakeFiles/mbengine.dir/engine/lua_embed.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/lua_embed.c.o.d"
  "/work/main/engine/lua_fs.c" "CMakeFiles/mbengine.dir/engine/lua_fs.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/lua_fs.c.o.d"
  "/work/main/engine/lua_iso.c" "CMakeFiles/mbengine.dir/engine/lua_iso.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/lua_iso.c.o.d"
  "/work/main/engine/lua_process.c" "CMakeFiles/mbengine.dir/engine/lua_process.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/lua_process.c.o.d"
  "/work/main/engine/lua_util.c" "CMakeFiles/mbengine.dir/engine/lua_util.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/lua_util.c.o.d"
  "/work/main/engine/lua_yaml.c" "CMakeFiles/mbengine.dir/engine/lua_yaml.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/lua_yaml.c.o.d"
  "/work/main/engine/luaerr.c" "CMakeFiles/mbengine.dir/engine/luaerr.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/luaerr.c.o.d"
  "/work/main/engine/modules.c" "CMakeFiles/mbengine.dir/engine/modules.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/modules.c.o.d"
  "/work/main/engine/pcall.c" "CMakeFiles/mbengine.dir/engine/pcall.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/pcall.c.o.d"
  "/work/main/engine/util.c" "CMakeFiles/mbengine.dir/engine/util.c.o" "gcc" "CMakeFiles/mbengine.dir/engine/util.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
