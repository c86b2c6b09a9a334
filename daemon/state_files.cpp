#include "daemon/state_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/unique_fd.h"
#include "common/uuid.h"

namespace flotilla::daemon {

namespace {

SimpleError sys_error(const std::string& what) {
  return SimpleError{what + ": " + std::strerror(errno)};
}

Result<void, SimpleError> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) return fail(sys_error("mkdir " + path));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(SimpleError{path + " exists and is not a folder"});
  }
  return {};
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<void, SimpleError> make_state_layout(const std::string& dir) {
  for (const std::string& d : {dir, dir + "/run", dir + "/log", dir + "/vms"}) {
    if (auto r = make_dir(d); !r) return r;
  }
  return {};
}

Result<void, SimpleError> write_file_durably(const std::string& path, const std::string& content,
                                             mode_t mode) {
  const std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return fail(sys_error("create " + tmp));
  if (::fchmod(fd.get(), mode) != 0) return fail(sys_error("chmod " + tmp));
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(sys_error("write " + tmp));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail(sys_error("fsync " + tmp));
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(sys_error("rename " + tmp));
  UniqueFd dir(::open(parent_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir || ::fsync(dir.get()) != 0) return fail(sys_error("fsync folder of " + path));
  return {};
}

Result<std::string, SimpleError> load_or_create_host_id(const std::string& state_dir) {
  const std::string path = state_dir + "/host_id";
  std::ifstream in(path);
  std::string id;
  if (in && std::getline(in, id) && is_uuid(id)) return id;
  id = make_uuid();
  if (auto r = write_file_durably(path, id + "\n", 0640); !r) return fail(r.error());
  return id;
}

}  // namespace flotilla::daemon
