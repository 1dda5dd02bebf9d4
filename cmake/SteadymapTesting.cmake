# sm_add_test(<name> <source>... [LIBRARY <target>])
#
# Builds <name> from the sources, links it with the static library (so tests
# reach the smi_* hooks of src/testing.h; LIBRARY names another build of it), cmocka and pthreads, and registers
# it once with CTest as <name>. The test is labelled with its directory's name
# (unit, model, stress, ...) so one tier can be run with `ctest -L <tier>`.

find_package(PkgConfig REQUIRED)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# Generous enough for a sanitizer's slowdown on a busy two-core machine; a test
# that gets anywhere near it is stuck, not slow.
set(STEADYMAP_TEST_TIMEOUT 300 CACHE STRING
    "Seconds after which CTest kills a test and reports it as failed")

function(sm_add_test name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "LIBRARY" "")
    if(NOT arg_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "sm_add_test(${name}): give at least one source file")
    endif()
    if(NOT arg_LIBRARY)
        set(arg_LIBRARY steadymap_static)
    endif()
    add_executable(${name} ${arg_UNPARSED_ARGUMENTS})
    target_include_directories(${name} PRIVATE
        ${PROJECT_SOURCE_DIR}/include
        ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${name} PRIVATE
        ${arg_LIBRARY}
        PkgConfig::CMOCKA
        Threads::Threads)
    add_test(NAME ${name} COMMAND ${name})
    cmake_path(GET CMAKE_CURRENT_SOURCE_DIR FILENAME tier)
    set_tests_properties(${name} PROPERTIES
        TIMEOUT ${STEADYMAP_TEST_TIMEOUT}
        LABELS ${tier})
endfunction()
