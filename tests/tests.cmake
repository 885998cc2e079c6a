# Unit and integration tests (cmocka).  Every test links the replay library.
function(mapcount_test name)
  add_executable(${name} tests/${name}.c ${ARGN})
  target_link_libraries(${name} PRIVATE mcreplay PkgConfig::CMOCKA)
  target_compile_definitions(${name} PRIVATE
    MAPCOUNT_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    MAPCOUNT_BINARY_DIR="${CMAKE_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endfunction()

mapcount_test(test_trace_io)
mapcount_test(test_golden)
mapcount_test(test_invariants)
mapcount_test(test_scenarios)
mapcount_test(test_synth clients/cli/cmd_synth.c)
target_link_libraries(test_synth PRIVATE mcsynth)
include(tests/ci/tests.cmake)
