# What `cmake --install` puts under the prefix, and the Debian package (cpack):
#   include/evs/                 the public headers
#   lib/libevs.a                 evs::evs (store, repository, feed, archive, snapshots)
#   lib/libevs_aws.a             evs::aws (DynamoDB, Kinesis, S3), when built
#   lib/libevs_http.a            evs::http (the HTTP API and server, include/evs/http), when built
#   lib/libevs_postgres.a        evs::postgres (the PostgreSQL store, libpq), when built
#   lib/cmake/evs/               evsConfig.cmake, its version file and the exported targets
#   lib/pkgconfig/evs.pc         the core for pkg-config (evs-aws.pc, evs-http.pc: components)
#   bin/evs                      the command-line tool, when built
# Each component is an export set of its own, so find_package(evs) alone never asks for the
# dependencies of a component the user did not request.

install(DIRECTORY include/evs DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(evs_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/evs)

# One library and its export set (evs<Set>.cmake, read by evsConfig.cmake).
function(evs_install_library target export_set)
  install(TARGETS ${target} EXPORT ${export_set} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT ${export_set} NAMESPACE evs:: DESTINATION ${evs_cmake_dir})
endfunction()
evs_install_library(evs_core evsTargets)
set(evs_components "")
if(EVS_BUILD_AWS)
  evs_install_library(evs_aws evsAwsTargets)
  list(APPEND evs_components aws)
endif()
if(EVS_BUILD_HTTP)
  evs_install_library(evs_http evsHttpTargets)
  list(APPEND evs_components http)
endif()
if(EVS_BUILD_POSTGRES)
  set_target_properties(evs_postgres PROPERTIES EXPORT_NAME postgres)
  evs_install_library(evs_postgres evsPostgresTargets)
  list(APPEND evs_components postgres)
endif()

configure_package_config_file(cmake/evsConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/evsConfig.cmake
                              INSTALL_DESTINATION ${evs_cmake_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/evsConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/evsConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/evsConfigVersion.cmake
        DESTINATION ${evs_cmake_dir})

# pkg-config: static libraries, so their dependencies are in Requires (not Requires.private).
# The prefix is relative to the .pc file, so `cmake --install --prefix P` needs no reconfigure.
file(RELATIVE_PATH evs_pc_to_prefix /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
set(evs_pc_files evs)
foreach(component IN LISTS evs_components)
  list(APPEND evs_pc_files evs-${component})
endforeach()
foreach(pc IN LISTS evs_pc_files)
  configure_file(cmake/${pc}.pc.in ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

# The Debian package: evs_<version>_amd64.deb. Depends is computed by dpkg-shlibdeps from what
# bin/evs links (the runtime libraries, never the -dev packages).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME evs)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "evs maintainers <evs@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES bin/evs)
include(CPack)
