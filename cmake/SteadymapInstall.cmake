# `cmake --install` lays out the header, both libraries, steadymap.pc and a
# relocatable CMake package, so consumers can use pkg-config or
# find_package(steadymap) from whatever prefix it was installed into.

include(CMakePackageConfigHelpers)

set(STEADYMAP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/steadymap)

install(FILES ${PROJECT_SOURCE_DIR}/include/steadymap.h
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(TARGETS steadymap_static steadymap_shared
    EXPORT steadymapTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(EXPORT steadymapTargets
    NAMESPACE steadymap::
    DESTINATION ${STEADYMAP_CMAKE_DIR})

configure_package_config_file(
    ${PROJECT_SOURCE_DIR}/cmake/steadymapConfig.cmake.in
    ${PROJECT_BINARY_DIR}/steadymapConfig.cmake
    INSTALL_DESTINATION ${STEADYMAP_CMAKE_DIR})
# Before 1.0 a minor release may change the API, so only a matching
# major.minor satisfies a find_package(steadymap 0.1) request.
write_basic_package_version_file(
    ${PROJECT_BINARY_DIR}/steadymapConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
install(FILES
        ${PROJECT_BINARY_DIR}/steadymapConfig.cmake
        ${PROJECT_BINARY_DIR}/steadymapConfigVersion.cmake
    DESTINATION ${STEADYMAP_CMAKE_DIR})

# The .pc file finds its prefix relative to its own directory (${pcfiledir}),
# so `cmake --install build --prefix <dir>` yields a working file for any <dir>.
# Absolute install directories cannot move, so they are written as they are.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(STEADYMAP_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    set(STEADYMAP_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
    set(STEADYMAP_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
    file(RELATIVE_PATH steadymap_pc_to_prefix
        /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
    string(REGEX REPLACE "/$" "" steadymap_pc_to_prefix "${steadymap_pc_to_prefix}")
    set(STEADYMAP_PC_PREFIX "\${pcfiledir}/${steadymap_pc_to_prefix}")
    set(STEADYMAP_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
    set(STEADYMAP_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/steadymap.pc.in
    ${PROJECT_BINARY_DIR}/steadymap.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/steadymap.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
