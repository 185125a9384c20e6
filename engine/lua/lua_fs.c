/* moonbase.engine.fs: the state store's primitives for Lua: atomic writes,
 * reads, directory listing, and lock handles (`local l <close> = fs.lock(p)`). */
#include "core/fs.h"
#include "lua/box.h"
#include "lua/luaerr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define LOCK_MT "moonbase.lock"

static int l_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    mb_error *err = NULL;
    size_t len;
    char *data = box->p = mb_fs_read(path, &len, &err);
    if (data == NULL)
        return mb_lua_push_error(L, err);
    lua_pushlstring(L, data, len);
    mb_lua_box_free(box);
    return 1;
}

/* write(path, data [, mode]) — atomic */
static int l_write(lua_State *L)
{
    size_t len;
    const char *path = luaL_checkstring(L, 1);
    const char *data = luaL_checklstring(L, 2, &len);
    mode_t mode = (mode_t)luaL_optinteger(L, 3, 0644);
    mb_error *err = NULL;
    if (!mb_fs_write_atomic(path, data, len, mode, &err))
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_mkdirs(lua_State *L)
{
    mb_error *err = NULL;
    if (!mb_fs_mkdirs(luaL_checkstring(L, 1), (mode_t)luaL_optinteger(L, 2, 0755), &err))
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_rmtree(lua_State *L)
{
    mb_error *err = NULL;
    if (!mb_fs_rmtree(luaL_checkstring(L, 1), &err))
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int push_errno(lua_State *L, const char *what, const char *path)
{
    mb_error *err = NULL;
    mb_error_set_errno(&err, errno, "cannot %s %s", what, path);
    return mb_lua_push_error(L, err);
}

/* xattr_ok(path) -> true, or nil, message: whether user xattrs can be set on
 * path (what QEMU's mapped-xattr 9p needs of a share); leaves none behind */
static int l_xattr_ok(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (lsetxattr(path, "user.moonbase.probe", "1", 1, 0) != 0)
        return push_errno(L, "set user xattrs on", path);
    lremovexattr(path, "user.moonbase.probe");
    lua_pushboolean(L, 1);
    return 1;
}

/* fs.sweep(dir): mb_fs_sweep_tmp. */
static int l_sweep(lua_State *L)
{
    mb_fs_sweep_tmp(luaL_checkstring(L, 1));
    return 0;
}

/* fs.unsafe(path, need_exec): why moonbase must not run this file, or nil. */
static int l_unsafe(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char why[512];
    const char *r = mb_fs_unsafe_file(path, lua_toboolean(L, 2), why, sizeof why);
    if (r == NULL)
        return 0;
    lua_pushstring(L, r);
    return 1;
}

static int l_remove(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (remove(path) != 0 && errno != ENOENT)
        return push_errno(L, "remove", path);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_rename(lua_State *L)
{
    const char *from = luaL_checkstring(L, 1);
    if (rename(from, luaL_checkstring(L, 2)) != 0)
        return push_errno(L, "rename", from);
    lua_pushboolean(L, 1);
    return 1;
}

static void close_dir(void *d, size_t n)
{
    (void)n;
    closedir(d);
}

/* list(dir) -> sorted? no: names in directory order, without "." and ".." */
static int l_list(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct mb_lua_box *box = mb_lua_box_new(L, close_dir);
    DIR *d = box->p = opendir(path);
    if (d == NULL)
        return push_errno(L, "list", path);
    lua_newtable(L);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        lua_pushstring(L, de->d_name);
        lua_rawseti(L, -2, ++n);
    }
    mb_lua_box_free(box);
    return 1;
}

static const char *type_name(mode_t m)
{
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "link"
           : S_ISSOCK(m) ? "socket" : S_ISFIFO(m) ? "fifo" : "other";
}

/* stat(path [, nofollow]) -> {type, size, mode, mtime, atime, uid, gid, allocated, ino} */
static int l_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    int rc = lua_toboolean(L, 2) ? lstat(path, &st) : stat(path, &st);
    if (rc != 0)
        return push_errno(L, "stat", path);
    lua_createtable(L, 0, 9);
    lua_pushstring(L, type_name(st.st_mode));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    lua_setfield(L, -2, "mode");
    lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec / 1e9);
    lua_setfield(L, -2, "mtime");
    lua_pushnumber(L, (lua_Number)st.st_atim.tv_sec + (lua_Number)st.st_atim.tv_nsec / 1e9);
    lua_setfield(L, -2, "atime");
    lua_pushinteger(L, (lua_Integer)st.st_uid);
    lua_setfield(L, -2, "uid");
    lua_pushinteger(L, (lua_Integer)st.st_gid);
    lua_setfield(L, -2, "gid");
    lua_pushinteger(L, (lua_Integer)st.st_blocks * 512);
    lua_setfield(L, -2, "allocated");
    lua_pushinteger(L, (lua_Integer)st.st_ino);
    lua_setfield(L, -2, "ino");
    return 1;
}

/* exists(path) -> type name or nil (does not follow a final symlink) */
static int l_exists(lua_State *L)
{
    struct stat st;
    if (lstat(luaL_checkstring(L, 1), &st) != 0)
        return 0;
    lua_pushstring(L, type_name(st.st_mode));
    return 1;
}

static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[PATH_MAX];
    if (realpath(path, buf) == NULL)
        return push_errno(L, "resolve", path);
    lua_pushstring(L, buf);
    return 1;
}

static int l_symlink(lua_State *L)
{
    const char *target = luaL_checkstring(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (symlink(target, path) != 0)
        return push_errno(L, "create symlink", path);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_readlink(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[PATH_MAX];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0)
        return push_errno(L, "read link", path);
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

static int l_touch(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (utimensat(AT_FDCWD, path, NULL, 0) != 0)
        return push_errno(L, "touch", path);
    lua_pushboolean(L, 1);
    return 1;
}

/* truncate(path, size): creates a sparse file of that size */
static int l_truncate(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer size = luaL_checkinteger(L, 2);
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return push_errno(L, "create", path);
    fclose(f);
    if (truncate(path, (off_t)size) != 0)
        return push_errno(L, "resize", path);
    lua_pushboolean(L, 1);
    return 1;
}

/* open_fd(path, "r"|"w") -> a raw file descriptor (for lending to the agent) */
static int l_open_fd(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "r");
    int flags = mode[0] == 'w' ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY;
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd < 0)
        return push_errno(L, "open", path);
    lua_pushinteger(L, fd);
    return 1;
}

static int l_close_fd(lua_State *L)
{
    close((int)luaL_checkinteger(L, 1));
    return 0;
}

struct lock_ud {
    int fd;
};

/* lock(path [, {shared=bool, wait=bool|seconds}]) -> lock | nil, msg, "state" */
static int l_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    unsigned flags = 0;
    double timeout = -1;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "shared");
        if (lua_toboolean(L, -1))
            flags |= MB_LOCK_SHARED;
        lua_getfield(L, 2, "wait");
        if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
            flags |= MB_LOCK_NOWAIT;
        else if (lua_isnumber(L, -1))
            timeout = lua_tonumber(L, -1);
        lua_pop(L, 2);
    }
    struct lock_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->fd = -1;
    luaL_setmetatable(L, LOCK_MT);
    mb_error *err = NULL;
    u->fd = mb_lock_acquire(path, flags, timeout, &err);
    if (u->fd < 0)
        return mb_lua_push_error(L, err);
    return 1;
}

static int lock_close(lua_State *L)
{
    struct lock_ud *u = luaL_checkudata(L, 1, LOCK_MT);
    mb_lock_release(u->fd);
    u->fd = -1;
    return 0;
}

static const luaL_Reg lock_methods[] = {
    {"close", lock_close},
    {"release", lock_close},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"read", l_read},       {"write", l_write},       {"mkdirs", l_mkdirs},
    {"rmtree", l_rmtree},   {"remove", l_remove},     {"rename", l_rename},
    {"list", l_list},       {"stat", l_stat},         {"exists", l_exists},
    {"realpath", l_realpath}, {"symlink", l_symlink}, {"readlink", l_readlink},
    {"touch", l_touch},     {"truncate", l_truncate}, {"lock", l_lock},
    {"open_fd", l_open_fd}, {"close_fd", l_close_fd}, {"xattr_ok", l_xattr_ok},
    {"unsafe", l_unsafe},   {"sweep", l_sweep},
    {NULL, NULL},
};

int luaopen_moonbase_engine_fs(lua_State *L)
{
    if (luaL_newmetatable(L, LOCK_MT)) {
        luaL_newlib(L, lock_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, lock_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, lock_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
