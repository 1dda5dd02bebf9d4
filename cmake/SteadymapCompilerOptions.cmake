# Warnings and sanitizers for every target defined in this project's
# directories (library, tests, examples, bench, lab). They are directory
# options rather than usage requirements, so a project that consumes
# steadymap never inherits them.

if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    add_compile_options(-Wall -Wextra)
    if(STEADYMAP_WERROR)
        add_compile_options(-Werror)
    endif()
elseif(STEADYMAP_WERROR)
    message(FATAL_ERROR "STEADYMAP_WERROR is only supported with GCC or Clang")
endif()

if(STEADYMAP_SANITIZE STREQUAL "thread")
    set(STEADYMAP_SANITIZER_FLAGS -fsanitize=thread)
elseif(STEADYMAP_SANITIZE STREQUAL "address")
    set(STEADYMAP_SANITIZER_FLAGS
        -fsanitize=address,undefined -fno-sanitize-recover=undefined)
elseif(NOT STEADYMAP_SANITIZE STREQUAL "")
    message(FATAL_ERROR
        "STEADYMAP_SANITIZE is '${STEADYMAP_SANITIZE}'; use \"\", thread or address")
endif()

if(STEADYMAP_SANITIZER_FLAGS)
    # Frame pointers keep the sanitizers' stack traces complete in optimised
    # builds, where most of the interesting races and overflows show up.
    add_compile_options(${STEADYMAP_SANITIZER_FLAGS} -fno-omit-frame-pointer)
    add_link_options(${STEADYMAP_SANITIZER_FLAGS})
    # Tests shrink their sizes and durations under a sanitizer's slowdown.
    add_compile_definitions(SM_SANITIZED=1)
endif()
