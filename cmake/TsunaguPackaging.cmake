# Installation layout and Debian packages (cpack -G DEB in the build directory):
#   tsunagu-gateway  /usr/bin/tsunagu-gateway, /etc/tsunagu/gateway.toml, systemd unit
#   tsunagu-relay    /usr/bin/tsunagu-relay, /etc/tsunagu/relay.toml, systemd unit
#   tsunagu-tools    /usr/bin/tsunagu-anonymize
# Depends are computed from the binaries by dpkg-shlibdeps. See packaging/README.md.
include(GNUInstallDirs)
set(TSUNAGU_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)

foreach(service gateway relay)
  install(TARGETS tsunagu-${service} RUNTIME DESTINATION bin COMPONENT ${service})
  install(FILES ${PROJECT_SOURCE_DIR}/config/${service}.example.toml
          DESTINATION /etc/tsunagu RENAME ${service}.toml COMPONENT ${service})
  install(FILES ${PROJECT_SOURCE_DIR}/config/${service}.example.toml
          DESTINATION share/doc/tsunagu-${service}/examples COMPONENT ${service})
  install(FILES ${TSUNAGU_PACKAGING_DIR}/systemd/tsunagu-${service}.service
          DESTINATION /lib/systemd/system COMPONENT ${service})
  install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/ipsec.md
                ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/security.md
          DESTINATION share/doc/tsunagu-${service} COMPONENT ${service})
endforeach()
# Prometheus alert rules and the Grafana dashboard for both services' /metrics.
foreach(service gateway relay)
  install(FILES ${TSUNAGU_PACKAGING_DIR}/monitoring/tsunagu-alerts.yml
                ${TSUNAGU_PACKAGING_DIR}/monitoring/tsunagu-dashboard.json
          DESTINATION share/doc/tsunagu-${service}/monitoring COMPONENT ${service})
endforeach()
# The web viewer the relay serves under /v/<token>/ ([viewer] assets_directory).
install(FILES ${PROJECT_SOURCE_DIR}/viewer-lib/web/index.html
              ${PROJECT_SOURCE_DIR}/viewer-lib/web/viewer.css
              ${PROJECT_SOURCE_DIR}/viewer-lib/web/viewer.js
              ${PROJECT_SOURCE_DIR}/viewer-lib/web/i18n.js
              ${PROJECT_SOURCE_DIR}/viewer-lib/web/geometry.js
        DESTINATION share/tsunagu/viewer COMPONENT relay)
if(TARGET tsunagu-anonymize)
  install(TARGETS tsunagu-anonymize RUNTIME DESTINATION bin COMPONENT tools)
  install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/tsunagu-tools COMPONENT tools)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tsunagu)
set(CPACK_PACKAGE_VENDOR "Tsunagu developers")
set(CPACK_PACKAGE_CONTACT "Tsunagu developers <dev@tsunagu.invalid>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://tsunagu.invalid/")
set(CPACK_COMPONENTS_ALL gateway relay)
if(TARGET tsunagu-anonymize)
  list(APPEND CPACK_COMPONENTS_ALL tools)
endif()

set(CPACK_DEBIAN_GATEWAY_PACKAGE_NAME tsunagu-gateway)
set(CPACK_DEBIAN_GATEWAY_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_GATEWAY_PACKAGE_RECOMMENDS "strongswan-swanctl, strongswan-charon")
set(CPACK_COMPONENT_GATEWAY_DESCRIPTION
    "Tsunagu gateway: sends de-identified studies from the hospital PACS to secure chat")
set(CPACK_DEBIAN_GATEWAY_PACKAGE_CONTROL_EXTRA
    "${TSUNAGU_PACKAGING_DIR}/debian/gateway/postinst;${TSUNAGU_PACKAGING_DIR}/debian/gateway/prerm;${TSUNAGU_PACKAGING_DIR}/debian/gateway/conffiles")

set(CPACK_DEBIAN_RELAY_PACKAGE_NAME tsunagu-relay)
set(CPACK_DEBIAN_RELAY_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_RELAY_PACKAGE_RECOMMENDS "strongswan-swanctl, strongswan-charon")
set(CPACK_COMPONENT_RELAY_DESCRIPTION
    "Tsunagu relay: keeps de-identified studies for a few days and serves viewer links")
set(CPACK_DEBIAN_RELAY_PACKAGE_CONTROL_EXTRA
    "${TSUNAGU_PACKAGING_DIR}/debian/relay/postinst;${TSUNAGU_PACKAGING_DIR}/debian/relay/prerm;${TSUNAGU_PACKAGING_DIR}/debian/relay/conffiles")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME tsunagu-tools)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION "Tsunagu tools: tsunagu-anonymize (DICOM de-identification)")

include(CPack)
