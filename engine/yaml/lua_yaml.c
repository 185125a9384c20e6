/* moonbase.engine.yaml: YAML parsing with libyaml, for cloud-init user-data and
 * settings files. parse(text) -> value | nil, "line L, column C: problem", "usage".
 * Plain scalars become booleans, integers, floats or nil as YAML 1.1 reads
 * them; quoted scalars stay strings. Anchors and aliases are refused. */
#include "lua/box.h"
#include "lua/luaerr.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct parse {
    yaml_parser_t parser;
    yaml_event_t event;
    bool have_event, initialized;
    char error[512];
};

static void parse_free(void *v, size_t n)
{
    (void)n;
    struct parse *p = v;
    if (p->have_event)
        yaml_event_delete(&p->event);
    if (p->initialized)
        yaml_parser_delete(&p->parser);
    free(p);
}

static void push_scalar(lua_State *L, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag) {
        lua_pushlstring(L, v, len);
        return;
    }
    if (len == 0 || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0) {
        lua_pushnil(L);
        return;
    }
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++)
        if (strcasecmp(v, yes[i]) == 0) {
            lua_pushboolean(L, 1);
            return;
        }
    for (int i = 0; no[i]; i++)
        if (strcasecmp(v, no[i]) == 0) {
            lua_pushboolean(L, 0);
            return;
        }
    char *end;
    long long ll = strtoll(v, &end, 10);
    if (*end == '\0' && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))) {
        lua_pushinteger(L, (lua_Integer)ll);
        return;
    }
    double d = strtod(v, &end);
    if (*end == '\0' && (v[0] == '-' || v[0] == '.' || (v[0] >= '0' && v[0] <= '9'))) {
        lua_pushnumber(L, d);
        return;
    }
    lua_pushlstring(L, v, len);
}

static bool next_event(struct parse *p)
{
    if (p->have_event)
        yaml_event_delete(&p->event);
    p->have_event = false;
    if (!yaml_parser_parse(&p->parser, &p->event)) {
        snprintf(p->error, sizeof p->error, "line %zu, column %zu: %s",
                 p->parser.problem_mark.line + 1, p->parser.problem_mark.column + 1,
                 p->parser.problem ? p->parser.problem : "invalid YAML");
        return false;
    }
    p->have_event = true;
    return true;
}

/* Converts the node starting at the current event; pushes one value. */
static bool convert(lua_State *L, struct parse *p, int depth)
{
    if (depth > 64) {
        snprintf(p->error, sizeof p->error, "nested too deeply");
        return false;
    }
    luaL_checkstack(L, 4, "yaml");
    yaml_event_t *ev = &p->event;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        push_scalar(L, ev);
        return true;
    case YAML_ALIAS_EVENT:
        snprintf(p->error, sizeof p->error, "line %zu: aliases are not supported",
                 ev->start_mark.line + 1);
        return false;
    case YAML_SEQUENCE_START_EVENT: {
        lua_newtable(L);
        lua_Integer n = 0;
        for (;;) {
            if (!next_event(p))
                return false;
            if (p->event.type == YAML_SEQUENCE_END_EVENT)
                return true;
            if (!convert(L, p, depth + 1))
                return false;
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushboolean(L, 0); /* keep positions: null becomes false */
            }
            lua_rawseti(L, -2, ++n);
        }
    }
    case YAML_MAPPING_START_EVENT: {
        lua_newtable(L);
        for (;;) {
            if (!next_event(p))
                return false;
            if (p->event.type == YAML_MAPPING_END_EVENT)
                return true;
            if (p->event.type != YAML_SCALAR_EVENT) {
                snprintf(p->error, sizeof p->error, "line %zu: mapping keys must be scalars",
                         p->event.start_mark.line + 1);
                return false;
            }
            lua_pushlstring(L, (const char *)p->event.data.scalar.value,
                            p->event.data.scalar.length);
            if (!next_event(p) || !convert(L, p, depth + 1))
                return false;
            lua_rawset(L, -3);
        }
    }
    default:
        snprintf(p->error, sizeof p->error, "unexpected YAML event");
        return false;
    }
}

static int l_parse(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    /* libyaml's parser holds malloc'd memory while the value is built */
    struct mb_lua_box *box = mb_lua_box_new(L, parse_free);
    struct parse *p = box->p = calloc(1, sizeof *p);
    if (p == NULL)
        return luaL_error(L, "yaml.parse: out of memory");
    if (!yaml_parser_initialize(&p->parser)) {
        mb_lua_box_free(box);
        return luaL_error(L, "yaml.parse: out of memory");
    }
    p->initialized = true;
    yaml_parser_set_input_string(&p->parser, (const unsigned char *)text, len);
    int top = lua_gettop(L);
    bool ok = true, got = false;
    while (ok) {
        if (!next_event(p)) {
            ok = false;
            break;
        }
        yaml_event_type_t t = p->event.type;
        if (t == YAML_STREAM_END_EVENT)
            break;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT
            || t == YAML_DOCUMENT_END_EVENT)
            continue;
        if (got) {
            snprintf(p->error, sizeof p->error, "more than one document");
            ok = false;
            break;
        }
        ok = convert(L, p, 0);
        got = true;
    }
    if (!ok) {
        lua_settop(L, top);
        mb_error *err = NULL;
        mb_error_set(&err, MB_ERR_USAGE, "%s", p->error);
        mb_lua_box_free(box);
        return mb_lua_push_error(L, err);
    }
    mb_lua_box_free(box);
    if (!got)
        lua_pushnil(L);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"parse", l_parse},
    {NULL, NULL},
};

int luaopen_moonbase_engine_yaml(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
