# Reliability and security of mapcountd (label "reliability";
# docs/reliability.md): bad inputs, hostile clients, faults (SIGKILL, a
# full disk, a read-only database) and load, against a real mapcountd on
# ephemeral loopback ports.  Under ASan+UBSan (MAPCOUNT_SANITIZE) the
# tests scale their load down (MAPCOUNT_SANITIZED=1).  Exit 77: skipped
# (no permission to mount, no wrk).
if(MAPCOUNT_SANITIZE)
  set(REL_SANITIZED 1)
else()
  set(REL_SANITIZED 0)
endif()
foreach(t bad_input security crash faults load)
  add_test(NAME reliability_${t}
    COMMAND ${CMAKE_SOURCE_DIR}/tests/reliability/test_${t}.sh
            $<TARGET_FILE:mapcountd> $<TARGET_FILE:mapcount>)
  set_tests_properties(reliability_${t} PROPERTIES
    LABELS reliability TIMEOUT 900 SKIP_RETURN_CODE 77
    ENVIRONMENT "MAPCOUNT_SANITIZED=${REL_SANITIZED}")
endforeach()
# timing-sensitive (the kill lands mid-upload, wrk wants both cores)
set_tests_properties(reliability_crash reliability_load PROPERTIES RUN_SERIAL TRUE)
