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
mapcount_test(test_fastpb)
target_link_libraries(test_fastpb PRIVATE mcsynth)
mapcount_test(test_golden)
mapcount_test(test_invariants)
mapcount_test(test_scenarios)
mapcount_test(test_timeline)
mapcount_test(test_synth clients/cli/cmd_synth.c)
target_link_libraries(test_synth PRIVATE mcsynth)
include(tests/ci/tests.cmake)

# mapcount record on the live kernel (root, BTF): tests/test_record.sh.
if(TARGET mcrecord)
  add_executable(record_workload tests/record_workload.c)
  # a workload, not the code under test: LeakSanitizer's CLONE_UNTRACED
  # thread would escape ptrace (docs/fidelity.md)
  target_compile_options(record_workload PRIVATE -fno-sanitize=all)
  target_link_options(record_workload PRIVATE -fno-sanitize=all)
  add_test(NAME test_record
    COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_record.sh $<TARGET_FILE:mapcount>
            $<TARGET_FILE:record_workload> ${CMAKE_BINARY_DIR})
  set_tests_properties(test_record PROPERTIES LABELS record
    SKIP_RETURN_CODE 77 TIMEOUT 120 RUN_SERIAL TRUE)
endif()

include(tests/reliability/tests.cmake)
include(tests/web/tests.cmake)
