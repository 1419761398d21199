# How our targets are declared, so that every library and test binary gets
# the same include root, warnings and test discovery.

# tensorops_library(<name> SOURCES <file>... [PUBLIC <dep>...]
#                   [PRIVATE <dep>...])
# A library of ours: the source root on its (public) include path, our
# warnings on its sources, and its dependencies.
function(tensorops_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;PUBLIC;PRIVATE")
  add_library(${name} ${arg_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
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
