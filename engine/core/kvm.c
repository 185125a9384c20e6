/* Is this host's KVM worth using? (kvm.h) The probe is a 64-bit guest of a
 * few instructions, run in a child process so that a hang costs no more than
 * the budget and a crash costs nothing. */
#include "core/kvm.h"
#include "core/clock.h"
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define GUEST_MEM ((uint64_t)(MB_KVM_PROBE_MB + 4) << 20)
#define PML4 0x1000u
#define PDPT 0x2000u
#define PD 0x3000u
#define CODE 0x8000u
#define PT 0x10000u                 /* page tables: 4 KiB pages, as a real kernel uses */
#define TOUCH_FROM ((uint64_t)4 << 20) /* above the tables and the code */
#define PORT 0x10
#define ANSWER 42

/* Child exit codes */
enum { CHILD_DONE = 0, CHILD_BROKEN = 3 };

static const char *const words[] = {"absent", "broken", "slow", "usable"};

const char *mb_kvm_word(enum mb_kvm_verdict v)
{
    return words[v];
}

const char *mb_kvm_describe(enum mb_kvm_verdict v)
{
    switch (v) {
    case MB_KVM_USABLE:
        return "KVM";
    case MB_KVM_SLOW:
        return "a /dev/kvm that runs guests slower than emulation";
    case MB_KVM_BROKEN:
        return "a /dev/kvm that does not run a guest";
    default:
        return "no usable /dev/kvm";
    }
}

/* The guest: write one quadword per page over MB_KVM_PROBE_MB, count a
 * million down (under a KVM that traps every instruction this alone takes
 * a second; on real KVM a millisecond), then out PORT, ANSWER; hlt. */
static size_t guest_code(uint8_t *p)
{
    uint64_t from = TOUCH_FROM, pages = (uint64_t)MB_KVM_PROBE_MB << 8;
    size_t n = 0;
    p[n++] = 0x48, p[n++] = 0xbf; /* mov rdi, imm64 */
    memcpy(p + n, &from, 8), n += 8;
    p[n++] = 0x48, p[n++] = 0xb9; /* mov rcx, imm64 */
    memcpy(p + n, &pages, 8), n += 8;
    static const uint8_t loop[] = {
        0x48, 0x89, 0x3f,       /* mov [rdi], rdi */
        0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, /* add rdi, 4096 */
        0x48, 0xff, 0xc9,       /* dec rcx */
        0x75, 0xf1,             /* jnz loop (-15) */
        0xb9, 0x00, 0x00, 0x10, 0x00, /* mov ecx, 1 << 20 */
        0xff, 0xc9,             /* spin: dec ecx */
        0x75, 0xfc,             /* jnz spin (-4) */
        0xb0, ANSWER,           /* mov al, ANSWER */
        0xe6, PORT,             /* out PORT, al */
        0xf4,                   /* hlt */
    };
    memcpy(p + n, loop, sizeof loop);
    return n + sizeof loop;
}

/* In the child: CHILD_DONE when the guest said ANSWER on PORT. */
static int run_guest(const char *path)
{
    int kvm = open(path, O_RDWR | O_CLOEXEC);
    if (kvm < 0 || ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        return CHILD_BROKEN;
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        return CHILD_BROKEN;
    (void)ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL); /* Intel without unrestricted guests */
    uint8_t *mem = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        return CHILD_BROKEN;
    struct kvm_userspace_memory_region r = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEM,
        .userspace_addr = (uint64_t)(uintptr_t)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return CHILD_BROKEN;
    int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (cpu < 0 || size < (int)sizeof(struct kvm_run))
        return CHILD_BROKEN;
    struct kvm_run *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
    if (run == MAP_FAILED)
        return CHILD_BROKEN;
    /* identity-mapped, 4 KiB pages, present and writable */
    uint64_t *pml4 = (uint64_t *)(mem + PML4), *pdpt = (uint64_t *)(mem + PDPT),
             *pd = (uint64_t *)(mem + PD), *pt = (uint64_t *)(mem + PT);
    pml4[0] = PDPT | 3;
    pdpt[0] = PD | 3;
    for (uint64_t i = 0; i < GUEST_MEM >> 21; i++)
        pd[i] = (PT + i * 0x1000) | 3;
    for (uint64_t i = 0; i < GUEST_MEM >> 12; i++)
        pt[i] = (i << 12) | 3;
    struct kvm_sregs s;
    if (ioctl(cpu, KVM_GET_SREGS, &s) < 0)
        return CHILD_BROKEN;
    s.cr3 = PML4;
    s.cr4 = 1u << 5;        /* PAE */
    s.cr0 = 0x80050033;     /* PG, AM, WP, NE, ET, MP, PE */
    s.efer = 0x500;         /* LMA, LME */
    struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 8, .present = 1,
                               .type = 11, .s = 1, .l = 1, .g = 1};
    struct kvm_segment data = code;
    data.type = 3, data.selector = 16, data.l = 0, data.db = 1;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    if (ioctl(cpu, KVM_SET_SREGS, &s) < 0)
        return CHILD_BROKEN;
    guest_code(mem + CODE);
    struct kvm_regs g;
    memset(&g, 0, sizeof g);
    g.rflags = 2;
    g.rip = CODE;
    g.rsp = CODE;
    if (ioctl(cpu, KVM_SET_REGS, &g) < 0 || ioctl(cpu, KVM_RUN, 0) < 0)
        return CHILD_BROKEN;
    if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT
        || run->io.port != PORT || ((uint8_t *)run)[run->io.data_offset] != ANSWER)
        return CHILD_BROKEN;
    return CHILD_DONE;
}

enum mb_kvm_verdict mb_kvm_probe(const char *path, long *ms)
{
    *ms = -1;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return MB_KVM_ABSENT;
    close(fd);
    int64_t t0 = mb_clock_ms();
    pid_t pid = fork();
    if (pid < 0)
        return MB_KVM_BROKEN;
    if (pid == 0)
        _exit(run_guest(path));
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0)
            return MB_KVM_BROKEN;
        if (mb_clock_ms() - t0 > MB_KVM_PROBE_MS) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return MB_KVM_SLOW;
        }
        mb_clock_sleep(0.002);
    }
    *ms = (long)(mb_clock_ms() - t0);
    return WIFEXITED(status) && WEXITSTATUS(status) == CHILD_DONE ? MB_KVM_USABLE
                                                                   : MB_KVM_BROKEN;
}

static void boot_id(char *buf, size_t n)
{
    char *s = mb_fs_read("/proc/sys/kernel/random/boot_id", NULL, NULL);
    snprintf(buf, n, "%s", s ? s : "?");
    buf[strcspn(buf, "\n")] = '\0';
    free(s);
}

enum mb_kvm_verdict mb_kvm_check(const char *path, const char *cache)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return MB_KVM_ABSENT;
    close(fd);
    char id[64], line[128];
    boot_id(id, sizeof id);
    char *old = cache ? mb_fs_read(cache, NULL, NULL) : NULL;
    if (old) {
        char oid[64], word[16];
        int got = sscanf(old, "%63s %15s", oid, word);
        free(old);
        if (got == 2 && strcmp(oid, id) == 0)
            for (int v = MB_KVM_BROKEN; v <= MB_KVM_USABLE; v++)
                if (strcmp(word, words[v]) == 0)
                    return (enum mb_kvm_verdict)v;
    }
    long ms;
    enum mb_kvm_verdict v = mb_kvm_probe(path, &ms);
    if (cache && v != MB_KVM_ABSENT) {
        int len = snprintf(line, sizeof line, "%s %s %ld\n", id, words[v], ms);
        mb_fs_write_atomic(cache, line, (size_t)len, 0644, NULL); /* a cache: best effort */
    }
    return v;
}

enum mb_kvm_verdict mb_kvm_check_host(void)
{
    char dir[4096], cache[4200];
    const char *rt = getenv("XDG_RUNTIME_DIR");
    bool keep;
    if (geteuid() == 0) {
        keep = mb_fs_mkdirs("/run/moonbase", 0755, NULL);
        snprintf(dir, sizeof dir, "/run/moonbase");
    } else {
        keep = rt && rt[0] == '/' && snprintf(dir, sizeof dir, "%s/moonbase", rt) < (int)sizeof dir
               && mb_fs_mkdirs(dir, 0700, NULL);
    }
    if (keep)
        snprintf(cache, sizeof cache, "%s/kvm.probe", dir);
    return mb_kvm_check("/dev/kvm", keep ? cache : NULL);
}
