/* moonbase.engine.process: running other programs. spawn (background, optional
 * detach), run (wait, capture output), exec (replace this process, for
 * `moonbase-<name>` commands), kill, alive, wait. */
#include "lua/luaerr.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* argv table -> NULL-terminated array kept in a userdata on the stack */
static char **check_argv(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    luaL_argcheck(L, n >= 1, idx, "argv must not be empty");
    char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        argv[i - 1] = (char *)luaL_checkstring(L, -1);
        lua_pop(L, 1); /* the string stays alive in the argv table */
    }
    argv[n] = NULL;
    return argv;
}

/* opts.env: table K=V added to (or, V=false, removed from) the environment.
 * Applied in the child only. */
static void apply_env(lua_State *L, int opts)
{
    if (opts == 0)
        return;
    lua_getfield(L, opts, "env");
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            const char *k = lua_tostring(L, -2);
            if (lua_toboolean(L, -1) == 0)
                unsetenv(k);
            else
                setenv(k, lua_tostring(L, -1), 1);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

static const char *opt_string(lua_State *L, int opts, const char *key)
{
    if (opts == 0)
        return NULL;
    lua_getfield(L, opts, key);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* strings in the opts table stay alive */
    return s;
}

static bool opt_bool(lua_State *L, int opts, const char *key)
{
    if (opts == 0)
        return false;
    lua_getfield(L, opts, key);
    bool b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

static void redirect(const char *path, int fd, int flags)
{
    if (path == NULL)
        return;
    int f = open(path, flags, 0644);
    if (f >= 0) {
        dup2(f, fd);
        close(f);
    }
}

/* A child that cannot enter its cwd reports errno + CHDIR_FAILED (errnos are
 * far below it), so the message names the directory, not the program. */
#define CHDIR_FAILED 0x10000

/* spawn(argv [, {env, cwd, stdin, stdout, stderr (paths), detach}]) -> pid
 * detach: new session, and the child is reparented to init (double fork), so
 * it outlives this process and is never our zombie. */
static int l_spawn(lua_State *L)
{
    char **argv = check_argv(L, 1);
    int opts = lua_istable(L, 2) ? 2 : 0;
    const char *cwd = opt_string(L, opts, "cwd");
    const char *in = opt_string(L, opts, "stdin");
    const char *out = opt_string(L, opts, "stdout");
    const char *errp = opt_string(L, opts, "stderr");
    bool detach = opt_bool(L, opts, "detach");
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        mb_error *err = NULL;
        mb_error_set_errno(&err, errno, "cannot start %s", argv[0]);
        return mb_lua_push_error(L, err);
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        if (detach) {
            setsid();
            pid_t g = fork();
            if (g != 0) {
                if (g > 0)
                    (void)!write(pfd[1], &g, sizeof g);
                _exit(g > 0 ? 0 : 127);
            }
        }
        apply_env(L, opts);
        redirect(in ? in : (detach ? "/dev/null" : NULL), 0, O_RDONLY);
        redirect(out, 1, O_WRONLY | O_CREAT | O_APPEND);
        redirect(errp, 2, O_WRONLY | O_CREAT | O_APPEND);
        /* what failed goes back through the pipe: -errno of exec, or of
         * chdir offset by CHDIR_FAILED */
        if (cwd && chdir(cwd) != 0) {
            int e = -(errno + CHDIR_FAILED);
            (void)!write(pfd[1], &e, sizeof e);
            _exit(127);
        }
        execvp(argv[0], argv);
        int e = -errno;
        (void)!write(pfd[1], &e, sizeof e);
        _exit(127);
    }
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        mb_error *err = NULL;
        mb_error_set_errno(&err, errno, "cannot start %s", argv[0]);
        return mb_lua_push_error(L, err);
    }
    int msg = 0;
    ssize_t r;
    pid_t result = pid;
    if (detach) {
        pid_t g = 0;
        while ((r = read(pfd[0], &g, sizeof g)) < 0 && errno == EINTR)
            ;
        waitpid(pid, NULL, 0);
        result = g;
        /* then the exec status of the grandchild */
        while ((r = read(pfd[0], &msg, sizeof msg)) < 0 && errno == EINTR)
            ;
    } else {
        while ((r = read(pfd[0], &msg, sizeof msg)) < 0 && errno == EINTR)
            ;
    }
    close(pfd[0]);
    if (r == (ssize_t)sizeof msg && msg < 0) {
        if (!detach)
            waitpid(pid, NULL, 0);
        mb_error *err = NULL;
        if (-msg >= CHDIR_FAILED)
            mb_error_set_errno(&err, -msg - CHDIR_FAILED, "cannot run %s in %s", argv[0], cwd);
        else
            mb_error_set_errno(&err, -msg, "cannot run %s", argv[0]);
        return mb_lua_push_error(L, err);
    }
    if (result <= 0) {
        mb_error *err = NULL;
        mb_error_set(&err, MB_ERR_FAILED, "cannot start %s", argv[0]);
        return mb_lua_push_error(L, err);
    }
    lua_pushinteger(L, result);
    return 1;
}

static int push_status(lua_State *L, int status)
{
    if (WIFEXITED(status))
        lua_pushinteger(L, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        lua_pushinteger(L, 128 + WTERMSIG(status));
    else
        lua_pushinteger(L, 255);
    return 1;
}

/* wait(pid [, nohang]) -> exit code (128+signal), or nil when still running */
static int l_wait(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    int status;
    pid_t r;
    while ((r = waitpid(pid, &status, lua_toboolean(L, 2) ? WNOHANG : 0)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        return 0;
    if (r < 0) {
        mb_error *err = NULL;
        mb_error_set_errno(&err, errno, "cannot wait for process %d", (int)pid);
        return mb_lua_push_error(L, err);
    }
    return push_status(L, status);
}

/* run(argv [, {input=string, env, cwd, stderr="inherit"}]) -> code, stdout, stderr */
static int l_run(lua_State *L)
{
    char **argv = check_argv(L, 1);
    int opts = lua_istable(L, 2) ? 2 : 0;
    size_t inlen = 0;
    const char *input = NULL;
    if (opts) {
        lua_getfield(L, opts, "input");
        input = lua_tolstring(L, -1, &inlen);
        lua_pop(L, 1);
    }
    const char *cwd = opt_string(L, opts, "cwd");
    const char *errmode = opt_string(L, opts, "stderr");
    bool inherit_err = errmode && strcmp(errmode, "inherit") == 0;
    int pin[2], pout[2], perr[2], pexec[2];
    if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)
        || pipe2(pexec, O_CLOEXEC)) {
        mb_error *err = NULL;
        mb_error_set_errno(&err, errno, "cannot run %s", argv[0]);
        return mb_lua_push_error(L, err);
    }
    pid_t pid = fork();
    if (pid == 0) {
        apply_env(L, opts);
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        if (!inherit_err)
            dup2(perr[1], 2);
        if (cwd && chdir(cwd) != 0) {
            int e = errno + CHDIR_FAILED;
            (void)!write(pexec[1], &e, sizeof e);
            _exit(127);
        }
        execvp(argv[0], argv);
        int e = errno;
        (void)!write(pexec[1], &e, sizeof e);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    close(pexec[1]);
    int e = 0;
    ssize_t er = read(pexec[0], &e, sizeof e);
    close(pexec[0]);
    if (pid < 0 || er == (ssize_t)sizeof e) {
        close(pin[1]);
        close(pout[0]);
        close(perr[0]);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        mb_error *err = NULL;
        if (pid > 0 && e >= CHDIR_FAILED)
            mb_error_set_errno(&err, e - CHDIR_FAILED, "cannot run %s in %s", argv[0], cwd);
        else
            mb_error_set_errno(&err, pid < 0 ? errno : e, "cannot run %s", argv[0]);
        return mb_lua_push_error(L, err);
    }
    /* output chunks are collected in two Lua tables: no malloc'd memory is
     * held across a call that can raise */
    struct pollfd fds[3] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
    if (input == NULL || inlen == 0) {
        close(pin[1]);
        fds[2].fd = -1;
    }
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    size_t inoff = 0;
    int outtab = lua_gettop(L) + 1;
    lua_newtable(L);
    lua_newtable(L);
    int nout = 0, nerr = 0;
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(pin[1], input + inoff, inlen - inoff);
            if (w > 0)
                inoff += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                inoff = inlen;
            if (inoff >= inlen) {
                close(pin[1]);
                fds[2].fd = -1;
            }
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[65536];
            ssize_t r = read(fds[i].fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                continue;
            }
            lua_pushlstring(L, buf, (size_t)r);
            lua_rawseti(L, outtab + i, i == 0 ? ++nout : ++nerr);
        }
    }
    if (fds[2].fd >= 0)
        close(pin[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    push_status(L, status);
    for (int i = 0; i < 2; i++) {
        lua_getglobal(L, "table");
        lua_getfield(L, -1, "concat");
        lua_remove(L, -2);
        lua_pushvalue(L, outtab + i);
        lua_call(L, 1, 1);
    }
    return 3;
}

/* exec(argv [, {env}]) — replaces this process; returns only on failure */
static int l_exec(lua_State *L)
{
    char **argv = check_argv(L, 1);
    apply_env(L, lua_istable(L, 2) ? 2 : 0);
    fflush(NULL);
    execvp(argv[0], argv);
    mb_error *err = NULL;
    mb_error_set_errno(&err, errno, "cannot run %s", argv[0]);
    return mb_lua_push_error(L, err);
}

static int l_kill(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    int sig = (int)luaL_optinteger(L, 2, SIGTERM);
    if (pid <= 0)
        return luaL_argerror(L, 1, "pid must be positive");
    lua_pushboolean(L, kill(pid, sig) == 0);
    return 1;
}

static int l_alive(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    lua_pushboolean(L, pid > 0 && (kill(pid, 0) == 0 || errno == EPERM));
    return 1;
}

static const luaL_Reg funcs[] = {
    {"spawn", l_spawn}, {"wait", l_wait}, {"run", l_run}, {"exec", l_exec},
    {"kill", l_kill},   {"alive", l_alive}, {NULL, NULL},
};

int luaopen_moonbase_engine_process(lua_State *L)
{
    luaL_newlib(L, funcs);
    lua_pushinteger(L, SIGTERM);
    lua_setfield(L, -2, "SIGTERM");
    lua_pushinteger(L, SIGKILL);
    lua_setfield(L, -2, "SIGKILL");
    lua_pushinteger(L, SIGINT);
    lua_setfield(L, -2, "SIGINT");
    return 1;
}
