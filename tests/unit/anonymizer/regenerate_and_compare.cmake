# Regenerates a generated table into the build tree and fails if it differs from the committed
# one. INPUTS (a list) defaults to JSON for the profile table.
if(NOT DEFINED INPUTS)
  set(INPUTS ${JSON})
endif()
execute_process(COMMAND ${PYTHON} ${GENERATOR} ${INPUTS} ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "generator failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT} ${COMMITTED} RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR "${COMMITTED} is out of date: regenerate it with ${GENERATOR}")
endif()
