/*
 * peers.c — the packaged C/C++ concurrent maps the lab compares steadymap
 * with, each compiled only when its Debian package was found at build time
 * (lab/peers/CMakeLists.txt defines LAB_HAVE_<X> for each one found), in the
 * order `steadymap-lab list` shows them: the lock-free C tables first, then
 * the C++ ones with their own fine-grained locking, then the maps behind
 * plain locks, ending with the single-threaded baseline. docs/PEERS.md says
 * how each adapter uses its library. This file is always compiled, so the
 * list exists, empty, when no peer package is installed.
 */
#include <stddef.h>

#include "engine.h"

#ifdef LAB_HAVE_URCU
extern const lab_engine lab_peer_urcu;
#endif
#ifdef LAB_HAVE_CK
extern const lab_engine lab_peer_ck_ht;
#endif
#ifdef LAB_HAVE_LIBCUCKOO
extern const lab_engine lab_peer_libcuckoo;
#endif
#ifdef LAB_HAVE_TBB
extern const lab_engine lab_peer_tbb_chm;
#endif
#ifdef LAB_HAVE_GLIB
extern const lab_engine lab_peer_glib_rw;
#endif
#ifdef LAB_HAVE_BOOST_UNORDERED
extern const lab_engine lab_peer_boost_flat_rw;
extern const lab_engine lab_peer_boost_flat_shard64;
extern const lab_engine lab_peer_boost_flat;
#endif

const lab_engine *const lab_peer_engines[] = {
#ifdef LAB_HAVE_URCU
    &lab_peer_urcu,
#endif
#ifdef LAB_HAVE_CK
    &lab_peer_ck_ht,
#endif
#ifdef LAB_HAVE_LIBCUCKOO
    &lab_peer_libcuckoo,
#endif
#ifdef LAB_HAVE_TBB
    &lab_peer_tbb_chm,
#endif
#ifdef LAB_HAVE_GLIB
    &lab_peer_glib_rw,
#endif
#ifdef LAB_HAVE_BOOST_UNORDERED
    &lab_peer_boost_flat_shard64,
    &lab_peer_boost_flat_rw,
    &lab_peer_boost_flat,
#endif
    NULL,
};
