# Batch CI: the gates, formats, merge and plugins of `mapcount`, and the
# project's own regression gate over the scenario library.
add_test(NAME scenarios_regression_gate
  COMMAND mapcount replay --jobs 2 --fail-on regression
          --baseline tests/baseline/scenarios.json --format junit
          -o ${CMAKE_BINARY_DIR}/scenarios-junit.xml traces/scenarios
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
add_test(NAME cli_ci
  COMMAND sh ${CMAKE_SOURCE_DIR}/tests/ci/test_cli.sh $<TARGET_FILE:mapcount>
          ${CMAKE_BINARY_DIR}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(scenarios_regression_gate cli_ci PROPERTIES LABELS ci)

# 2^22 VMAs: seconds in a release build, minutes under ASan: release only.
if(NOT MAPCOUNT_SANITIZE)
  add_test(NAME vma_overflow_2e22
    COMMAND sh ${CMAKE_SOURCE_DIR}/tests/ci/test_vma_overflow.sh $<TARGET_FILE:mapcount>)
  set_tests_properties(vma_overflow_2e22 PROPERTIES LABELS "ci;slow")
endif()

add_test(NAME cli_remote
  COMMAND sh ${CMAKE_SOURCE_DIR}/tests/ci/test_remote.sh $<TARGET_FILE:mapcount>
          $<TARGET_FILE:mapcountd>
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_remote PROPERTIES LABELS "ci;server")
