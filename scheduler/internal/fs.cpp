#include "scheduler/internal/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/unique_fd.h"

namespace flotilla::scheduler::internal {

namespace {
SchedError io_error(SchedErrc code, const std::string& what, const std::string& path, int err) {
  return sched_error(code, what + " " + path + ": " + std::strerror(err));
}
}  // namespace

Result<std::string, SchedError> read_text(const std::string& path, SchedErrc code) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    return fail(io_error(errno == ENOENT ? SchedErrc::not_found : code, "open", path, errno));
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(io_error(code, "read", path, errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<void, SchedError> write_text(const std::string& path, const std::string& value,
                                    bool create) {
  const int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  UniqueFd fd(::open(path.c_str(), flags, 0644));
  if (!fd) return fail(io_error(SchedErrc::cgroup_io, "open", path, errno));
  const ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n != static_cast<ssize_t>(value.size())) {
    return fail(
        io_error(SchedErrc::cgroup_io, "write '" + value + "' to", path, n < 0 ? errno : EIO));
  }
  return {};
}

Result<void, SchedError> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return fail(io_error(SchedErrc::cgroup_io, "mkdir", path, errno));
  }
  return {};
}

Result<void, SchedError> remove_dir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
    return fail(io_error(SchedErrc::cgroup_io, "rmdir", path, errno));
  }
  return {};
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> list_dirs(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_type == DT_DIR && e->d_name[0] != '.') out.emplace_back(e->d_name);
  }
  ::closedir(d);
  return out;
}

bool find_key(const std::string& text, const std::string& key, uint64_t& value) {
  std::istringstream in(text);
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v) {
    if (k == key) {
      value = v;
      return true;
    }
  }
  return false;
}

}  // namespace flotilla::scheduler::internal
