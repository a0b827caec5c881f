# Compiler settings shared by every target.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

# A sanitizer build type: cmake -DCMAKE_BUILD_TYPE=Asan
set(CMAKE_CXX_FLAGS_ASAN "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
    CACHE STRING "Flags for the address/undefined sanitizer build" FORCE)
set(CMAKE_C_FLAGS_ASAN "${CMAKE_CXX_FLAGS_ASAN}" CACHE STRING "" FORCE)
set(CMAKE_EXE_LINKER_FLAGS_ASAN "-fsanitize=address,undefined" CACHE STRING "" FORCE)
set(CMAKE_SHARED_LINKER_FLAGS_ASAN "-fsanitize=address,undefined" CACHE STRING "" FORCE)

add_library(tsunagu_warnings INTERFACE)
target_compile_options(tsunagu_warnings INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
if(TSUNAGU_WERROR)
  target_compile_options(tsunagu_warnings INTERFACE -Werror)
endif()

# Every target that includes cpprestsdk must not see its U() macro (it breaks fmt); see
# ../shared/DEPENDENCIES.md.
function(tsunagu_uses_cpprest target)
  target_link_libraries(${target} PRIVATE cpprestsdk::cpprest)
  target_compile_definitions(${target} PRIVATE _TURN_OFF_PLATFORM_STRING)
endfunction()
