/* Whether this host's KVM is worth using. A /dev/kvm that opens is not
 * enough: nested under another hypervisor it may run a guest a hundred times
 * slower than emulation, or QEMU may abort on it. The probe runs a tiny
 * 64-bit guest that writes MB_KVM_PROBE_MB of memory a page at a time and
 * counts a million down, and calls KVM usable when it finishes within
 * MB_KVM_PROBE_MS (real KVM takes a few milliseconds; emulation of every
 * instruction, seen on nested hosts, over a second). The verdict is kept per
 * boot in a file. */
#ifndef MB_CORE_KVM_H
#define MB_CORE_KVM_H

#include <stdbool.h>
#include <stddef.h>

#define MB_KVM_PROBE_MB 16
#define MB_KVM_PROBE_MS 300

enum mb_kvm_verdict {
    MB_KVM_ABSENT,  /* /dev/kvm does not open read-write */
    MB_KVM_BROKEN,  /* it opens, but a guest does not run on it */
    MB_KVM_SLOW,    /* a guest runs, far slower than real KVM */
    MB_KVM_USABLE,
};

/* The verdict for path (normally "/dev/kvm"). cache: a file that keeps it
 * for this boot (NULL: probe every time); its folder must exist. */
enum mb_kvm_verdict mb_kvm_check(const char *path, const char *cache);
/* mb_kvm_check of /dev/kvm, kept for this boot outside any moonbase home
 * (a probe never writes into a user's state): as root in
 * /run/moonbase/kvm.probe, else in $XDG_RUNTIME_DIR/moonbase/kvm.probe, else
 * nowhere (probed each time). */
enum mb_kvm_verdict mb_kvm_check_host(void);
/* Run the probe now: the verdict, and the guest's time in *ms (-1 if none). */
enum mb_kvm_verdict mb_kvm_probe(const char *path, long *ms);
/* The verdict as one word: "absent", "broken", "slow", "usable". */
const char *mb_kvm_word(enum mb_kvm_verdict v);
/* A few words for the verdict ("KVM", "no usable /dev/kvm", ...). */
const char *mb_kvm_describe(enum mb_kvm_verdict v);

#endif
