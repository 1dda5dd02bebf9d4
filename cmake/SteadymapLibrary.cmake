# The library, as a static and a shared library built from the same sources.
# Expects STEADYMAP_SOURCES (the globbed src/*.c) and Threads::Threads.

# xxhash (Debian libxxhash-dev) hashes string keys. It is compiled in header-only
# (XXH_INLINE_ALL in src/strkey.c), so users of the library never need it.
find_path(STEADYMAP_XXHASH_INCLUDE_DIR xxhash.h)
if(NOT STEADYMAP_XXHASH_INCLUDE_DIR)
    message(FATAL_ERROR "xxhash.h not found: install libxxhash-dev (scripts/deps.sh does)")
endif()

function(steadymap_configure_library target)
    target_sources(${target} PRIVATE ${STEADYMAP_SOURCES})
    target_include_directories(${target}
        PUBLIC
            $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
            $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
        PRIVATE
            ${PROJECT_SOURCE_DIR}/src
            ${STEADYMAP_XXHASH_INCLUDE_DIR})
    # mmap/madvise, syscall and getrandom are GNU/Linux interfaces that strict
    # C11 mode hides; the public header stays plain C11 for callers.
    target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
    target_link_libraries(${target} PUBLIC Threads::Threads)
    set_target_properties(${target} PROPERTIES OUTPUT_NAME steadymap)
endfunction()

add_library(steadymap_static STATIC)
steadymap_configure_library(steadymap_static)
set_target_properties(steadymap_static PROPERTIES EXPORT_NAME steadymap_static)

add_library(steadymap_shared SHARED)
steadymap_configure_library(steadymap_shared)
# The version script exports the public sm_* functions only: the test hooks
# (smi_*) and the helpers shared between source files stay internal, so the
# ABI is exactly include/steadymap.h.
set(steadymap_version_script ${PROJECT_SOURCE_DIR}/cmake/steadymap.map)
target_link_options(steadymap_shared PRIVATE
    LINKER:--version-script=${steadymap_version_script})
set_target_properties(steadymap_shared PROPERTIES
    EXPORT_NAME steadymap
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    LINK_DEPENDS ${steadymap_version_script})

add_library(steadymap::steadymap ALIAS steadymap_shared)
add_library(steadymap::steadymap_static ALIAS steadymap_static)
