# What `cmake --install` puts under the prefix: the static library, the public headers as they are
# laid out in include/ (users write #include "mamba/mamba.h"), a CMake package giving the target
# mamba::mamba, and mamba.pc for pkg-config. Only the library target is installed by default, so
# an install needs neither the tests nor the programs built.
include(CMakePackageConfigHelpers)

set(MAMBA_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/mamba")

install(TARGETS mamba EXPORT mambaTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/mamba DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(EXPORT mambaTargets NAMESPACE mamba:: DESTINATION ${MAMBA_CMAKE_DIR})

# The config file re-finds what a static libmamba.a needs at link time (see the template).
configure_package_config_file(cmake/mambaConfig.cmake.in
  "${PROJECT_BINARY_DIR}/mambaConfig.cmake" INSTALL_DESTINATION ${MAMBA_CMAKE_DIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/mambaConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)  # 0.x: minor versions may break
install(FILES "${PROJECT_BINARY_DIR}/mambaConfig.cmake"
              "${PROJECT_BINARY_DIR}/mambaConfigVersion.cmake" DESTINATION ${MAMBA_CMAKE_DIR})

# mamba.pc. Its prefix is found relative to the file itself (${pcfiledir}), so the package can be
# installed with `cmake --install --prefix ANY` or moved afterwards and still be right.
file(RELATIVE_PATH MAMBA_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" MAMBA_PC_TO_PREFIX "${MAMBA_PC_TO_PREFIX}")
# A C program linked with `cc` needs the C++ runtime that libmamba.a's objects use (what the C++
# compiler links implicitly and the C compiler does not: libstdc++, libm with GCC).
set(MAMBA_PC_LIBS_PRIVATE "${OpenMP_CXX_FLAGS}")
foreach(lib IN LISTS CMAKE_CXX_IMPLICIT_LINK_LIBRARIES)
  if(NOT lib IN_LIST CMAKE_C_IMPLICIT_LINK_LIBRARIES)
    string(APPEND MAMBA_PC_LIBS_PRIVATE " -l${lib}")
  endif()
endforeach()
if(MAMBA_CUDA)
  string(APPEND MAMBA_PC_LIBS_PRIVATE " -L${CUDAToolkit_LIBRARY_DIR} -lcudart -lcublas")
endif()
configure_file(cmake/mamba.pc.in "${PROJECT_BINARY_DIR}/mamba.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/mamba.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(MAMBA_BUILD_PROGRAMS AND MAMBA_INSTALL_PROGRAMS)
  install(TARGETS mamba-generate mamba-tokenize mamba-logits mamba-perplexity mamba-bench
                  mamba-random-checkpoint mamba-jetson-demo
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
