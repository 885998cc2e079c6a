# Browser test of the web UI (label "web"): Debian's chromium, driven by
# playwright-core, against a mapcountd the test starts on an ephemeral port.
# Screenshots of each page: ${CMAKE_BINARY_DIR}/web-artifacts/*.png.
# Skipped (exit 77) while mapcountd is not built; needs scripts/web-deps.
if(TARGET mapcountd)
  set(MAPCOUNT_WEB_SERVER $<TARGET_FILE:mapcountd>)
else()
  set(MAPCOUNT_WEB_SERVER ${CMAKE_BINARY_DIR}/mapcountd)
endif()
add_test(NAME web_ui
  COMMAND ${CMAKE_SOURCE_DIR}/tests/web/run.sh
          ${MAPCOUNT_WEB_SERVER} ${CMAKE_SOURCE_DIR}
          ${CMAKE_BINARY_DIR}/web-artifacts)
set_tests_properties(web_ui PROPERTIES
  LABELS web
  TIMEOUT 300
  SKIP_RETURN_CODE 77)
