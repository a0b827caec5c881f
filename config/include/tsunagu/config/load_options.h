// How configuration files are loaded.
#ifndef TSUNAGU_CONFIG_LOAD_OPTIONS_H_
#define TSUNAGU_CONFIG_LOAD_OPTIONS_H_

namespace tsunagu::config {

struct LoadOptions {
  // Check the files the config names: secret files exist and are not readable by other users,
  // certificates exist. Off only for tests and tools that look at a config meant for another
  // machine.
  bool check_files = true;
};

}  // namespace tsunagu::config

#endif  // TSUNAGU_CONFIG_LOAD_OPTIONS_H_
