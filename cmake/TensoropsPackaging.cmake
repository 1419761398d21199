# Debian packages, one per install component (cmake/TensoropsInstall.cmake):
#   cpack -G DEB        (in the build directory, after building it)
# gives tensorops-server, tensorops-client (CLI, C++ library, headers, CMake
# package) and python3-tensorops (where the Python package is built), for
# /usr. Their Depends are dpkg-shlibdeps' (when dpkg-dev is installed) plus
# the ones below.
set(CPACK_PACKAGE_NAME tensorops)
set(CPACK_PACKAGE_VENDOR tensorops)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "PyTorch-compatible tensor operations (topk, sort, backward) over gRPC")
set(TENSOROPS_PACKAGE_CONTACT "tensorops maintainers <tensorops@localhost>"
    CACHE STRING "The Maintainer of the Debian packages")
set(CPACK_PACKAGE_CONTACT ${TENSOROPS_PACKAGE_CONTACT})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)

set(CPACK_COMPONENTS_ALL server client)
if(TARGET tensorops_python)
  list(APPEND CPACK_COMPONENTS_ALL python)
endif()
set(CPACK_COMPONENT_SERVER_DESCRIPTION
    "tensorops-server, the tensorops gRPC service")
set(CPACK_COMPONENT_CLIENT_DESCRIPTION
    "tensorops command-line tool and C++ client library (static, with headers \
and a CMake package: find_package(tensorops), tensorops::client)")
set(CPACK_COMPONENT_PYTHON_DESCRIPTION
    "Python client for the tensorops service (import tensorops)")

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
find_program(TENSOROPS_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(TENSOROPS_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(WARNING "dpkg-shlibdeps not found: the Debian packages get only "
                  "their listed Depends (apt-get install dpkg-dev)")
endif()
set(CPACK_DEBIAN_SERVER_PACKAGE_NAME tensorops-server)
set(CPACK_DEBIAN_CLIENT_PACKAGE_NAME tensorops-client)
set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-tensorops)
set(CPACK_DEBIAN_SERVER_PACKAGE_SECTION net)
set(CPACK_DEBIAN_CLIENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
# The static libraries' link interface (tensoropsConfig.cmake's
# find_dependency calls): a program built against them links these.
set(CPACK_DEBIAN_CLIENT_PACKAGE_DEPENDS
    "libgrpc++-dev, libprotobuf-dev, libabsl-dev, libtbb-dev")
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS
    "python3, python3-grpcio, python3-numpy, python3-protobuf")

include(CPack)
