# How our targets are declared, so that every library and test binary gets
# the same include root, warnings and test discovery, and how the libraries
# of the C++ client are exported (cmake/TensoropsInstall.cmake).
include(GNUInstallDirs)

# tensorops_library(<name> SOURCES <file>... [PUBLIC <dep>...]
#                   [PRIVATE <dep>...])
# A library of ours: the source root on its (public) include path (the
# install's include/ once installed), our warnings on its sources, and its
# dependencies.
function(tensorops_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;PUBLIC;PRIVATE")
  add_library(${name} ${arg_SOURCES})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_options(${name} PRIVATE ${TENSOROPS_WARNINGS})
  target_link_libraries(${name} PUBLIC ${arg_PUBLIC} PRIVATE ${arg_PRIVATE})
endfunction()

# tensorops_gtest(<name> SOURCES <file>... DEPS <dep>...
#                 [DISCOVERY_TIMEOUT <seconds>] [PROPERTIES <prop> <value>...])
# A GoogleTest binary (DEPS bring the main: GTest::gmock_main or a main of
# its own) whose tests ctest lists when they run, each with PROPERTIES (e.g.
# LABELS timing).
function(tensorops_gtest name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "DISCOVERY_TIMEOUT"
                        "SOURCES;DEPS;PROPERTIES")
  add_executable(${name} ${arg_SOURCES})
  target_compile_options(${name} PRIVATE ${TENSOROPS_WARNINGS})
  target_link_libraries(${name} PRIVATE ${arg_DEPS})
  set(discovery DISCOVERY_MODE PRE_TEST)
  if(arg_DISCOVERY_TIMEOUT)
    list(APPEND discovery DISCOVERY_TIMEOUT ${arg_DISCOVERY_TIMEOUT})
  endif()
  if(arg_PROPERTIES)
    list(APPEND discovery PROPERTIES ${arg_PROPERTIES})
  endif()
  gtest_discover_tests(${name} ${discovery})
endfunction()

# tensorops_export(<target>...)
# Installs static libraries of ours (COMPONENT client) into the export set
# tensorops-targets as tensorops::<name without tensorops_>, e.g.
# tensorops_client as tensorops::client, and adds that name as an ALIAS in
# the build tree too. Plain include directories (the generated headers'
# build directory, the source root) count in the build tree only: the
# installed targets use <prefix>/include.
function(tensorops_export)
  foreach(target IN LISTS ARGN)
    string(REGEX REPLACE "^tensorops_" "" export_name ${target})
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
    add_library(tensorops::${export_name} ALIAS ${target})
    get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(dirs)
      set(wrapped "")
      foreach(dir IN LISTS dirs)
        if(dir MATCHES "^\\$<")
          list(APPEND wrapped "${dir}")
        else()
          list(APPEND wrapped "$<BUILD_INTERFACE:${dir}>")
        endif()
      endforeach()
      list(APPEND wrapped "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
      list(REMOVE_DUPLICATES wrapped)
      set_target_properties(${target} PROPERTIES
                            INTERFACE_INCLUDE_DIRECTORIES "${wrapped}")
    endif()
  endforeach()
  install(TARGETS ${ARGN} EXPORT tensorops-targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT client
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT client)
endfunction()
