# flotilla_add_gtest(NAME <name> LABEL <unit|integration|e2e> SOURCES ... LIBS ... [TIMEOUT s])
# One executable per test file group; gtest_discover_tests would add a configure-time run per
# binary, so each binary is a single ctest entry with its label. Each executable also joins the
# umbrella target `tests-<label>` (tests/CMakeLists.txt), so a configuration that runs only
# some labels (the asan preset: unit and fuzz) builds only those.
function(flotilla_add_gtest)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main flotilla_build_flags)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABEL}" TIMEOUT ${T_TIMEOUT})
  flotilla_label_target(${T_LABEL} ${T_NAME})
endfunction()

# flotilla_label_target(<label> <target>): <target> is built by `tests-<label>`.
function(flotilla_label_target label target)
  set_property(GLOBAL APPEND PROPERTY FLOTILLA_TEST_TARGETS_${label} ${target})
endfunction()
