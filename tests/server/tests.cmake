# HTTP tests of mapcountd: real HTTP against a real mapcountd on an
# ephemeral port, real SQLite (label "server").
add_test(NAME server_api
  COMMAND ${CMAKE_SOURCE_DIR}/tests/server/test_api.sh
          $<TARGET_FILE:mapcountd> $<TARGET_FILE:mapcount>)
set_tests_properties(server_api PROPERTIES LABELS server TIMEOUT 300)
# The response cache: answers with and without it are the same, byte for
# byte, after every kind of write.
add_test(NAME server_cache
  COMMAND ${CMAKE_SOURCE_DIR}/tests/server/test_cache.sh
          $<TARGET_FILE:mapcountd> $<TARGET_FILE:mapcount>)
set_tests_properties(server_cache PROPERTIES LABELS server TIMEOUT 300)
