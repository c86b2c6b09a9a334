// Files the daemon keeps in its state folder besides the database: the layout, the host id
// and the admin token. Every write is durable: temporary name, fsync, rename, fsync folder.
#pragma once

#include <sys/types.h>
#include <string>

#include "common/result.h"

namespace flotilla::daemon {

// Creates DIR, DIR/run, DIR/log, DIR/vms (mode 0750) if missing.
Result<void, SimpleError> make_state_layout(const std::string& state_dir);
// Writes `content` to `path` with `mode`, durably and atomically.
Result<void, SimpleError> write_file_durably(const std::string& path, const std::string& content,
                                             mode_t mode);
// DIR/host_id: a UUID made at first start and kept for the host's life.
Result<std::string, SimpleError> load_or_create_host_id(const std::string& state_dir);

}  // namespace flotilla::daemon
