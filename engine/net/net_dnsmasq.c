/* dnsmasq, one per moonbase network: its conf, its start (dnsmasq daemonizes
 * itself; its parent's exit status says whether startup worked), the hosts
 * files it re-reads on SIGHUP, and finding it again through its pid file,
 * checked against /proc so a stale pid, or a dnsmasq of another network
 * namespace, is never signalled. */
#include "core/fs.h"
#include "core/clock.h"
#include "core/process.h"
#include "net/net_priv.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static bool net_of(const char *address, int prefix, char *net, char *mask)
{
    struct in_addr a;
    if (address == NULL || inet_pton(AF_INET, address, &a) != 1 || prefix < 8 || prefix > 30)
        return false;
    uint32_t m = prefix ? 0xffffffffu << (32 - prefix) : 0;
    struct in_addr n = {a.s_addr & htonl(m)}, mk = {htonl(m)};
    inet_ntop(AF_INET, &n, net, MB_NET_IPLEN);
    inet_ntop(AF_INET, &mk, mask, MB_NET_IPLEN);
    return true;
}

char *mb_net_dnsmasq_conf(const struct mb_dnsmasq *d)
{
    char net[MB_NET_IPLEN], mask[MB_NET_IPLEN];
    const char *domain = d->domain ? d->domain : "moonbase";
    if (!net_of(d->address, d->prefix, net, mask) || !mb_net_quotable(d->bridge)
        || !mb_net_quotable(d->dir) || !mb_net_quotable(domain))
        return NULL;
    struct mb_strbuf b = {0};
    mb_strbuf_addf(&b, "%s \"%s\": written by moonbase, do not edit\n", MB_DNSMASQ_MAGIC,
                d->name ? d->name : d->bridge);
    mb_strbuf_addf(&b, "interface=%s\nexcept-interface=lo\nbind-interfaces\n", d->bridge);
    mb_strbuf_addf(&b, "listen-address=%s\n", d->address);
    /* names: <instance>.<domain> from our hosts file only, never forwarded */
    mb_strbuf_addf(&b, "domain=%s\nlocal=/%s/\ndomain-needed\nbogus-priv\nno-hosts\n", domain,
                domain);
    mb_strbuf_addf(&b, "addn-hosts=%s/hosts\n", d->dir);
    /* DHCP hands out only the static leases (the same address the guest is
     * configured with), so it is a fallback that can never disagree */
    mb_strbuf_addf(&b, "dhcp-range=%s,static,%s,12h\n", net, mask);
    mb_strbuf_addf(&b, "dhcp-hostsfile=%s/dhcp-hosts\n", d->dir);
    mb_strbuf_addf(&b, "dhcp-option=option:router,%s\n", d->address);
    mb_strbuf_addf(&b, "dhcp-option=option:dns-server,%s\n", d->address);
    mb_strbuf_addf(&b, "dhcp-option=option:domain-search,%s\n", domain);
    mb_strbuf_addf(&b, "dhcp-authoritative\ndhcp-leasefile=%s/leases\n", d->dir);
    mb_strbuf_addf(&b, "pid-file=%s/dnsmasq.pid\nlog-facility=%s/dnsmasq.log\n", d->dir, d->dir);
    if (d->user && mb_net_quotable(d->user))
        mb_strbuf_addf(&b, "user=%s\n", d->user);
    return mb_strbuf_finish(&b);
}

static void dir_file(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

/* /proc/<pid>/cmdline with NULs turned into '\n'; NULL when unreadable. */
static char *proc_cmdline(pid_t pid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
    size_t len = 0;
    char *s = mb_fs_read(p, &len, NULL);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0')
            s[i] = '\n';
    return s;
}

static bool same_netns(pid_t pid)
{
    char p[64];
    struct stat a, b;
    snprintf(p, sizeof p, "/proc/%d/ns/net", (int)pid);
    return stat(p, &a) == 0 && stat("/proc/self/ns/net", &b) == 0 && a.st_ino == b.st_ino
           && a.st_dev == b.st_dev;
}

/* Alive and not a zombie (PID 1 in a container may never reap it). */
static bool alive(pid_t pid)
{
    char buf[512];
    const char *f = mb_process_stat(pid, buf, sizeof buf);
    return f && f[0] != 'Z' && f[0] != 'X';
}

/* The conf file dnsmasq was started with ("--conf-file=X" or "-C X"). */
static bool cmdline_conf(char *cmd, char *conf, size_t n)
{
    char *save = NULL, *prev = NULL;
    bool is_dnsmasq = false;
    for (char *a = strtok_r(cmd, "\n", &save); a; a = strtok_r(NULL, "\n", &save)) {
        if (prev == NULL) {
            const char *base = strrchr(a, '/');
            is_dnsmasq = strcmp(base ? base + 1 : a, "dnsmasq") == 0;
        } else if (strncmp(a, "--conf-file=", 12) == 0) {
            snprintf(conf, n, "%s", a + 12);
            return is_dnsmasq;
        } else if (strcmp(prev, "-C") == 0) {
            snprintf(conf, n, "%s", a);
            return is_dnsmasq;
        }
        prev = a;
    }
    return false;
}

pid_t mb_net_dnsmasq_pid(const char *dir)
{
    char p[4096], want[4096], conf[4096];
    dir_file(p, sizeof p, dir, "dnsmasq.pid");
    size_t len;
    char *s = mb_fs_read(p, &len, NULL);
    pid_t pid = s ? (pid_t)atoi(s) : 0;
    free(s);
    if (pid <= 0 || !alive(pid) || !same_netns(pid))
        return 0;
    char *cmd = proc_cmdline(pid);
    dir_file(want, sizeof want, dir, "dnsmasq.conf");
    bool ours = cmd && cmdline_conf(cmd, conf, sizeof conf) && strcmp(conf, want) == 0;
    free(cmd);
    return ours ? pid : 0;
}

static bool write_file(const char *dir, const char *name, const char *text, mb_error **err)
{
    char p[4096];
    dir_file(p, sizeof p, dir, name);
    return mb_fs_write_atomic(p, text, strlen(text), 0644, err);
}

pid_t mb_net_dnsmasq_start(const struct mb_dnsmasq *d, mb_error **err)
{
    pid_t running = mb_net_dnsmasq_pid(d->dir);
    if (running > 0)
        return running;
    char *conf = mb_net_dnsmasq_conf(d);
    if (conf == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "net: cannot configure dnsmasq for %s: invalid address "
                     "%s/%d or name", d->bridge ? d->bridge : "?",
                     d->address ? d->address : "?", d->prefix);
        return -1;
    }
    pid_t result = -1;
    char p[4096], logp[4096], arg[4200];
    if (!mb_fs_mkdirs(d->dir, 0755, err) || !write_file(d->dir, "dnsmasq.conf", conf, err))
        goto cleanup;
    /* the lease files must exist before dnsmasq reads them */
    const char *files[] = {"hosts", "dhcp-hosts"};
    for (size_t i = 0; i < 2; i++) {
        dir_file(p, sizeof p, d->dir, files[i]);
        if (access(p, F_OK) != 0 && !write_file(d->dir, files[i], "", err))
            goto cleanup;
    }
    dir_file(p, sizeof p, d->dir, "dnsmasq.pid");
    unlink(p);
    dir_file(logp, sizeof logp, d->dir, "dnsmasq.start.log");
    snprintf(arg, sizeof arg, "--conf-file=%s/dnsmasq.conf", d->dir);
    pid_t pid = fork();
    if (pid == 0) {
        mb_net_ambient_caps();
        int in = open("/dev/null", O_RDWR);
        int log = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in >= 0) {
            dup2(in, 0);
            dup2(in, 1);
        }
        if (log >= 0)
            dup2(log, 2);
        mb_process_child_reset(-1); /* the daemon keeps none of our descriptors */
        /* a new session: the daemon must not die with the caller's terminal */
        setsid();
        execlp("dnsmasq", "dnsmasq", arg, (char *)NULL);
        fprintf(stderr, "cannot run dnsmasq: %s%s\n", strerror(errno),
                errno == ENOENT ? " (install dnsmasq-base)" : "");
        _exit(127);
    }
    if (pid < 0) {
        mb_error_set_errno(err, errno, "net: cannot start dnsmasq for %s", d->bridge);
        goto cleanup;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        size_t len;
        char *log = mb_fs_read(logp, &len, NULL);
        mb_error_set(err, MB_ERR_FAILED, "net: dnsmasq for %s did not start: %s (see %s)",
                     d->bridge, log && *log ? mb_net_first_line(log) : "no message", logp);
        free(log);
        goto cleanup;
    }
    /* the daemon writes its pid file as it finishes starting */
    for (int i = 0; i < 100 && (result = mb_net_dnsmasq_pid(d->dir)) == 0; i++)
        mb_clock_sleep(0.02);
    if (result == 0) {
        result = -1;
        mb_error_set(err, MB_ERR_FAILED, "net: dnsmasq for %s started but wrote no pid file %s",
                     d->bridge, p);
    }
cleanup:
    free(conf);
    return result;
}

static bool stop_pid(pid_t pid, const char *what, mb_error **err)
{
    if (kill(pid, SIGTERM) != 0 && errno != ESRCH) {
        mb_error_set_errno(err, errno, "net: cannot stop %s (pid %d)", what, (int)pid);
        return false;
    }
    for (int i = 0; i < 150 && alive(pid); i++)
        mb_clock_sleep(0.02);
    if (alive(pid)) {
        kill(pid, SIGKILL);
        for (int i = 0; i < 50 && alive(pid); i++)
            mb_clock_sleep(0.02);
    }
    return true;
}

bool mb_net_dnsmasq_stop(const char *dir, mb_error **err)
{
    pid_t pid = mb_net_dnsmasq_pid(dir);
    if (pid > 0 && !stop_pid(pid, "dnsmasq", err))
        return false;
    char p[4096];
    dir_file(p, sizeof p, dir, "dnsmasq.pid");
    unlink(p);
    return true;
}

static bool field_ok(const char *s)
{
    return s && *s && strcspn(s, " \t\n,#") == strlen(s);
}

bool mb_net_dnsmasq_hosts(const char *dir, const char *domain,
                          const struct mb_dnsmasq_host *hosts, size_t n, mb_error **err)
{
    struct mb_strbuf h = {0}, dh = {0};
    bool ok = false;
    if (!field_ok(domain)) {
        mb_error_set(err, MB_ERR_USAGE, "net: invalid DNS domain \"%s\"", domain ? domain : "");
        return false;
    }
    mb_strbuf_addf(&h, "# moonbase: instances on this network (DNS); written by moonbase\n");
    mb_strbuf_addf(&dh, "# moonbase: static DHCP leases (MAC,IP,NAME); written by moonbase\n");
    for (size_t i = 0; i < n; i++) {
        struct in_addr a;
        if (!field_ok(hosts[i].name) || !field_ok(hosts[i].ipv4)
            || inet_pton(AF_INET, hosts[i].ipv4, &a) != 1
            || (hosts[i].mac && !field_ok(hosts[i].mac))) {
            mb_error_set(err, MB_ERR_USAGE, "net: invalid lease for \"%s\" (%s)",
                         hosts[i].name ? hosts[i].name : "", hosts[i].ipv4 ? hosts[i].ipv4 : "");
            goto cleanup;
        }
        mb_strbuf_addf(&h, "%s %s.%s %s\n", hosts[i].ipv4, hosts[i].name, domain, hosts[i].name);
        if (hosts[i].mac)
            mb_strbuf_addf(&dh, "%s,%s,%s\n", hosts[i].mac, hosts[i].ipv4, hosts[i].name);
    }
    if (h.oom || dh.oom) {
        mb_error_set(err, MB_ERR_IO, "net: out of memory");
        goto cleanup;
    }
    if (!mb_fs_mkdirs(dir, 0755, err) || !write_file(dir, "hosts", h.s, err)
        || !write_file(dir, "dhcp-hosts", dh.s, err))
        goto cleanup;
    pid_t pid = mb_net_dnsmasq_pid(dir);
    if (pid > 0 && kill(pid, SIGHUP) != 0) {
        mb_error_set_errno(err, errno, "net: cannot reload dnsmasq (pid %d)", (int)pid);
        goto cleanup;
    }
    ok = true;
cleanup:
    free(h.s);
    free(dh.s);
    return ok;
}

/* The conf is moonbase's: it starts with the magic line, or (deleted with its
 * network's directory) its path has the shape <data>/networks/<name>/. */
static bool conf_is_ours(const char *conf)
{
    char head[sizeof MB_DNSMASQ_MAGIC];
    int fd = open(conf, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, head, sizeof head - 1);
        close(fd);
        head[r > 0 ? r : 0] = '\0';
        return strcmp(head, MB_DNSMASQ_MAGIC) == 0;
    }
    const char *tail = "/dnsmasq.conf";
    size_t len = strlen(conf), tl = strlen(tail);
    return len > tl && strcmp(conf + len - tl, tail) == 0 && strstr(conf, "/networks/") != NULL;
}

static bool is_ours(pid_t pid)
{
    char *cmd = proc_cmdline(pid);
    char conf[4096];
    bool ours = cmd && cmdline_conf(cmd, conf, sizeof conf) && conf_is_ours(conf) && alive(pid)
                && same_netns(pid);
    free(cmd);
    return ours;
}

bool mb_net_dnsmasq_kill(pid_t pid, mb_error **err)
{
    if (pid <= 0 || !is_ours(pid)) {
        mb_error_set(err, MB_ERR_USAGE, "net: process %d is not a dnsmasq of moonbase's in this "
                     "network namespace", (int)pid);
        return false;
    }
    return stop_pid(pid, "dnsmasq", err);
}

pid_t *mb_net_dnsmasq_all(size_t *n)
{
    *n = 0;
    size_t cap = 8;
    pid_t *out = calloc(cap, sizeof *out);
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (out && d && (de = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(de->d_name);
        if (pid <= 0 || pid == getpid())
            continue;
        if (!is_ours(pid))
            continue;
        if (*n + 1 >= cap) {
            pid_t *p = realloc(out, cap * 2 * sizeof *out);
            if (p == NULL)
                break;
            out = p;
            cap *= 2;
        }
        out[(*n)++] = pid;
    }
    if (d)
        closedir(d);
    return out;
}
