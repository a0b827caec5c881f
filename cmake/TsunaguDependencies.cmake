# Every dependency comes from a Debian package and is found here; nothing is vendored or
# downloaded. See ../shared/DEPENDENCIES.md and scripts/setup.

find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(toml11 REQUIRED)
find_package(DCMTK REQUIRED)
find_package(cpprestsdk REQUIRED)
find_package(libjpeg-turbo REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(OPENJP2 REQUIRED IMPORTED_TARGET libopenjp2)
if(TSUNAGU_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# DCMTK's config exports one target per module but no umbrella target in 3.6.7's Debian build.
if(NOT TARGET DCMTK::DCMTK)
  add_library(DCMTK::DCMTK INTERFACE IMPORTED)
  set_target_properties(DCMTK::DCMTK PROPERTIES
    INTERFACE_LINK_LIBRARIES "${DCMTK_LIBRARIES}"
    INTERFACE_INCLUDE_DIRECTORIES "${DCMTK_INCLUDE_DIRS}")
endif()
