# What `cmake --install` puts under the prefix, in three components (the
# Debian packages of cmake/TensoropsPackaging.cmake):
#   server  bin/tensorops-server
#   client  bin/tensorops (client/cli), the C++ client's static libraries
#           and headers, and the CMake package: an outside project's
#             find_package(tensorops CONFIG REQUIRED)
#             target_link_libraries(app PRIVATE tensorops::client)
#   python  the Python package (client/python/CMakeLists.txt)
include(CMakePackageConfigHelpers)

install(TARGETS tensorops-server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT server)

# The C++ client and the static libraries under it, as tensorops::client,
# tensorops::core, ... (tests/deploy/cmake_consumer builds against them).
set(exported tensorops_client tensorops_core tensorops_proto
             tensorops_proto_messages tensorops_tensor_codec
             tensorops_outgoing_message)
if(TARGET tensorops_tsan_support)
  # ThreadSanitizer builds link it into tensorops_core.
  list(APPEND exported tensorops_tsan_support)
endif()
tensorops_export(${exported})

# Their headers, at the paths the sources include them by ("client/...",
# "core/...", "proto/...", "tensorops/v1/tensor_ops.pb.h").
set(include_dir ${CMAKE_INSTALL_INCLUDEDIR})
file(GLOB client_headers ${PROJECT_SOURCE_DIR}/client/*.h)
file(GLOB core_headers ${PROJECT_SOURCE_DIR}/core/*.h)
file(GLOB proto_headers ${PROJECT_SOURCE_DIR}/proto/*.h)
install(FILES ${client_headers} DESTINATION ${include_dir}/client
        COMPONENT client)
install(FILES ${core_headers} DESTINATION ${include_dir}/core
        COMPONENT client)
install(FILES ${proto_headers} DESTINATION ${include_dir}/proto
        COMPONENT client)
# The generated messages and stubs (protobuf_generate's output in
# <build>/proto), with the .proto they come from.
get_target_property(proto_build_dir tensorops_proto_messages BINARY_DIR)
install(DIRECTORY ${proto_build_dir}/tensorops/v1/
        DESTINATION ${include_dir}/tensorops/v1 COMPONENT client
        FILES_MATCHING PATTERN "*.pb.h")
install(FILES ${PROJECT_SOURCE_DIR}/proto/tensorops/v1/tensor_ops.proto
        DESTINATION ${include_dir}/tensorops/v1 COMPONENT client)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tensorops)
install(EXPORT tensorops-targets NAMESPACE tensorops::
        DESTINATION ${config_dir} COMPONENT client)
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/tensoropsConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tensoropsConfig.cmake
  INSTALL_DESTINATION ${config_dir})
# 0.x: minor versions may break the API.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/tensoropsConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tensoropsConfig.cmake
              ${PROJECT_BINARY_DIR}/tensoropsConfigVersion.cmake
        DESTINATION ${config_dir} COMPONENT client)
