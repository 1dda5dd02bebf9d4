/*
 * events.c — telling observers that a resize started or finished.
 *
 * Two channels, both free when unused: the sm_options.on_resize callback (a
 * NULL test), and USDT probes (a single nop in the code until perf, bpftrace
 * or SystemTap attaches to steadymap:resize_start / steadymap:resize_finish).
 * The probes exist when <sys/sdt.h> (Debian: systemtap-sdt-dev) was present
 * at build time.
 */
#include "map_internal.h"

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define SM_HAVE_SDT 1
#endif
#endif

void smi_notify_resize(sm_map *m, sm_resize_kind kind, uint64_t old_buckets, uint64_t new_buckets)
{
#ifdef SM_HAVE_SDT
    if (kind == SM_RESIZE_START)
        DTRACE_PROBE3(steadymap, resize_start, m, old_buckets, new_buckets);
    else
        DTRACE_PROBE3(steadymap, resize_finish, m, old_buckets, new_buckets);
#endif
    if (m->on_resize) {
        sm_resize_event ev = {kind, old_buckets, new_buckets};
        m->on_resize(&ev, m->on_resize_ctx);
    }
}
