# chorus_add_test(NAME name SOURCES a.cc ... LIBS lib ... LABELS unit ... [TIMEOUT s]
#                 [FIXTURES fixture ...])
# Builds one GoogleTest binary and registers each of its tests with ctest.
include(GoogleTest)
function(chorus_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;FIXTURES" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  set(fixtures)
  if(T_FIXTURES)
    set(fixtures FIXTURES_REQUIRED "${T_FIXTURES}")
  endif()
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} ${fixtures}
               ENVIRONMENT "CHORUS_SOURCE_DIR=${PROJECT_SOURCE_DIR};CHORUS_BINARY_DIR=${PROJECT_BINARY_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()
