/* moonbase.engine.process: running other programs. spawn (background, optional
 * detach), run (wait, capture output), exec (replace this process, for
 * `moonbase-<name>` commands), kill, alive, wait. */
#include "core/process.h"
#include "lua/box.h"
#include "lua/luaerr.h"
#include "lua/opts.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
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

/* opts.env: a table K=V added to (or, V=false, removed from) this process's
 * environment, as the environment of a new program. Built before fork (in
 * a userdata and strings left on the stack, so nothing is malloc'd), so
 * the child only calls exec. NULL without opts.env. */
static char **build_env(lua_State *L, int opts)
{
    if (opts == 0)
        return NULL;
    lua_getfield(L, opts, "env");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    luaL_argcheck(L, lua_istable(L, -1), opts, "env must be a table");
    int env = lua_gettop(L);
    size_t n = 0, extra = 0;
    for (char **e = environ; *e; e++)
        n++;
    lua_pushnil(L);
    while (lua_next(L, env)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "env: names must be strings");
        int t = lua_type(L, -1);
        if (t != LUA_TSTRING && t != LUA_TNUMBER && !(t == LUA_TBOOLEAN && !lua_toboolean(L, -1)))
            luaL_error(L, "env: %s must be a string (or false to remove it)", lua_tostring(L, -2));
        extra++;
        lua_pop(L, 1);
    }
    char **envp = lua_newuserdatauv(L, (n + extra + 1) * sizeof *envp, 0);
    lua_newtable(L); /* keeps the "K=V" strings alive */
    int keep = lua_gettop(L);
    size_t m = 0;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        lua_pushlstring(L, *e, eq ? (size_t)(eq - *e) : strlen(*e));
        int t = lua_rawget(L, env);
        lua_pop(L, 1);
        if (t == LUA_TNIL)
            envp[m++] = *e;
    }
    lua_pushnil(L);
    while (lua_next(L, env)) {
        if (lua_toboolean(L, -1)) {
            lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
            envp[m++] = (char *)lua_tostring(L, -1);
            lua_rawseti(L, keep, (lua_Integer)m);
        }
        lua_pop(L, 1);
    }
    envp[m] = NULL;
    return envp;
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
 * it outlives this process and is never our zombie; it keeps none of our
 * descriptors but 0-2 (a detached agent that inherited, say, the lock of a
 * `flock FILE moonbase start` would hold that lock for as long as it runs). */
static int l_spawn(lua_State *L)
{
    static const char *const keys[] = {"env", "cwd", "stdin", "stdout", "stderr", "detach", NULL};
    mb_lua_check_opts(L, 2, "process.spawn", keys); /* before argv's userdata takes slot 2 */
    char **argv = check_argv(L, 1);
    int opts = lua_istable(L, 2) ? 2 : 0;
    const char *cwd = mb_lua_opt_str(L, opts, "cwd", NULL);
    const char *in = mb_lua_opt_str(L, opts, "stdin", NULL);
    const char *out = mb_lua_opt_str(L, opts, "stdout", NULL);
    const char *errp = mb_lua_opt_str(L, opts, "stderr", NULL);
    bool detach = mb_lua_opt_bool(L, opts, "detach", false);
    char **envp = build_env(L, opts);
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
            close_range(3, ~0U, CLOSE_RANGE_CLOEXEC); /* pfd[1] is CLOEXEC already */
            pid_t g = fork();
            if (g != 0) {
                if (g > 0)
                    (void)!write(pfd[1], &g, sizeof g);
                _exit(g > 0 ? 0 : 127);
            }
        }
        redirect(in ? in : (detach ? "/dev/null" : NULL), 0, O_RDONLY);
        redirect(out, 1, O_WRONLY | O_CREAT | O_APPEND);
        redirect(errp, 2, O_WRONLY | O_CREAT | O_APPEND);
        mb_process_child_reset(pfd[1]);
        /* what failed goes back through the pipe: -errno of exec, or of
         * chdir offset by CHDIR_FAILED */
        if (cwd && chdir(cwd) != 0) {
            int e = -(errno + CHDIR_FAILED);
            (void)!write(pfd[1], &e, sizeof e);
            _exit(127);
        }
        if (envp)
            execvpe(argv[0], argv, envp);
        else
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
    lua_pushinteger(L, mb_process_exit_code(status));
    return 1;
}

struct output {
    struct mb_strbuf out, err;
};

static void free_output(void *p, size_t n)
{
    (void)n;
    struct output *o = p;
    mb_strbuf_free(&o->out);
    mb_strbuf_free(&o->err);
    free(o);
}

/* run(argv [, {input=string, env, cwd, stderr="inherit"}]) -> code, stdout, stderr */
static int l_run(lua_State *L)
{
    static const char *const keys[] = {"input", "env", "cwd", "stderr", NULL};
    mb_lua_check_opts(L, 2, "process.run", keys); /* before argv's userdata takes slot 2 */
    char **argv = check_argv(L, 1);
    int opts = lua_istable(L, 2) ? 2 : 0;
    const char *input = mb_lua_opt_str(L, opts, "input", NULL);
    size_t inlen = 0;
    if (input) { /* its length: it may hold NULs */
        lua_getfield(L, opts, "input");
        lua_tolstring(L, -1, &inlen);
        lua_pop(L, 1);
    }
    const char *cwd = mb_lua_opt_str(L, opts, "cwd", NULL);
    const char *errmode = mb_lua_opt_str(L, opts, "stderr", NULL);
    luaL_argcheck(L, errmode == NULL || strcmp(errmode, "inherit") == 0, 2,
                  "stderr must be \"inherit\" (or absent: captured)");
    char **envp = build_env(L, opts);
    /* the output is malloc'd while it is pushed: it lives in a box */
    struct mb_lua_box *box = mb_lua_box_new(L, free_output);
    struct output *o = box->p = calloc(1, sizeof *o);
    if (o == NULL)
        return luaL_error(L, "process.run: out of memory");
    struct mb_process_io io = {
        .input = input ? input : "", .input_len = inlen, /* no input: an empty pipe */
        .out = &o->out, .err = &o->err, .inherit_err = errmode && strcmp(errmode, "inherit") == 0,
        .cwd = cwd, .envp = envp,
    };
    mb_error *err = NULL;
    int status = mb_process_run(argv, &io, &err);
    if (status < 0)
        return mb_lua_push_error(L, err);
    if (o->out.oom || o->err.oom)
        return luaL_error(L, "process.run: out of memory for the output of %s", argv[0]);
    lua_pushinteger(L, mb_process_exit_code(status));
    lua_pushlstring(L, o->out.s ? o->out.s : "", o->out.n);
    lua_pushlstring(L, o->err.s ? o->err.s : "", o->err.n);
    mb_lua_box_free(box);
    return 3;
}

/* exec(argv [, {env}]) — replaces this process; returns only on failure */
static int l_exec(lua_State *L)
{
    static const char *const keys[] = {"env", NULL};
    mb_lua_check_opts(L, 2, "process.exec", keys); /* before argv's userdata takes slot 2 */
    char **argv = check_argv(L, 1);
    char **envp = build_env(L, lua_istable(L, 2) ? 2 : 0);
    fflush(NULL);
    if (envp)
        execvpe(argv[0], argv, envp);
    else
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
