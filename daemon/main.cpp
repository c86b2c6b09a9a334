// flotillad: parse the command line, run the daemon.
#include "daemon/daemon.h"

int main(int argc, char** argv) {
  flotilla::daemon::ConfigOverrides overrides;
  if (auto status = flotilla::daemon::parse_command_line(argc, argv, overrides)) return *status;
  return flotilla::daemon::run_daemon(overrides);
}
