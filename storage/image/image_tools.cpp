#include "storage/image/image_tools.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/unique_fd.h"
#include "storage/image/qcow2_entry.h"

namespace flotilla::storage {
namespace {

ImageError sys_error(const std::string& path, const char* what, int err) {
  const ImageErrc code = err == ENOSPC || err == EDQUOT ? ImageErrc::kNoSpace
                         : err == ENOENT                ? ImageErrc::kNotFound
                                                        : ImageErrc::kIo;
  return ImageError{code, path + ": " + what + ": " + std::strerror(err), err};
}

ImageResult<void> fsync_directory_of(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail(sys_error(dir, "open", errno));
  if (::fsync(fd.get()) != 0) return fail(sys_error(dir, "fsync", errno));
  return {};
}

ImageResult<void> create_raw(const CreateOptions& options, const std::string& tmp) {
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return fail(sys_error(tmp, "create", errno));
  if (::ftruncate(fd.get(), static_cast<off_t>(options.size_bytes)) != 0) {
    return fail(sys_error(tmp, "ftruncate", errno));
  }
  if (::fsync(fd.get()) != 0) return fail(sys_error(tmp, "fsync", errno));
  return {};
}

bool all_zero(const std::vector<std::byte>& buffer, size_t length) {
  return std::all_of(buffer.begin(), buffer.begin() + static_cast<long>(length),
                     [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

ImageResult<void> create_image(const CreateOptions& options) {
  if (options.path.empty()) {
    return fail(ImageError{ImageErrc::kInvalidArgument, "no image path given", 0});
  }
  if (options.size_bytes % 512 != 0) {
    return fail(ImageError{ImageErrc::kInvalidArgument,
                           options.path + ": size must be a multiple of 512 bytes", 0});
  }
  if (options.format == ImageFormat::kRaw &&
      (options.size_bytes == 0 || !options.backing_path.empty())) {
    return fail(
        ImageError{ImageErrc::kInvalidArgument,
                   options.path + ": a raw image needs a size and cannot have a backing file", 0});
  }
  struct stat st {};
  if (::lstat(options.path.c_str(), &st) == 0) {
    return fail(ImageError{ImageErrc::kInvalidArgument, options.path + ": already exists", EEXIST});
  }
  const std::string tmp = options.path + ".tmp-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  auto made = options.format == ImageFormat::kRaw ? create_raw(options, tmp)
                                                  : create_qcow2_file(options, tmp);
  if (!made) {
    ::unlink(tmp.c_str());
    return made;
  }
  if (::rename(tmp.c_str(), options.path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(sys_error(options.path, "rename", err));
  }
  return fsync_directory_of(options.path);
}

ImageResult<ImageInfo> image_info(const std::string& path) {
  auto format = detect_image_format(path);
  if (!format) return fail(format.error());
  if (*format == ImageFormat::kQcow2) return qcow2_info(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(sys_error(path, "stat", errno));
  auto image = open_image(OpenOptions{path, ImageFormat::kRaw, true, false, {}});
  if (!image) return fail(image.error());
  ImageInfo info;
  info.format = ImageFormat::kRaw;
  info.size_bytes = (*image)->size_bytes();
  info.file_bytes = static_cast<uint64_t>(st.st_size);
  info.allocated_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  info.chain = {path};
  return info;
}

ImageResult<void> resize_image(const std::string& path, ImageFormat format, uint64_t new_size) {
  if (new_size % 512 != 0) {
    return fail(
        ImageError{ImageErrc::kInvalidArgument, path + ": size must be a multiple of 512", 0});
  }
  auto info = image_info(path);
  if (!info) return fail(info.error());
  if (info->format != format) {
    return fail(ImageError{ImageErrc::kInvalidArgument,
                           path + ": is " + to_string(info->format) + ", not " + to_string(format),
                           0});
  }
  if (new_size < info->size_bytes) {
    return fail(ImageError{ImageErrc::kInvalidArgument,
                           path + ": shrinking (" + std::to_string(info->size_bytes) + " → " +
                               std::to_string(new_size) + " bytes) is not supported",
                           0});
  }
  if (format == ImageFormat::kQcow2) return resize_qcow2(path, new_size);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return fail(sys_error(path, "open", errno));
  if (::ftruncate(fd.get(), static_cast<off_t>(new_size)) != 0) {
    return fail(sys_error(path, "ftruncate", errno));
  }
  if (::fsync(fd.get()) != 0) return fail(sys_error(path, "fsync", errno));
  return {};
}

ImageResult<void> copy_image(BlockImage& src, BlockImage& dst,
                             const std::function<void(uint64_t, uint64_t)>& progress,
                             const std::atomic<bool>* cancel) {
  const uint64_t total = src.size_bytes();
  if (dst.size_bytes() < total) {
    return fail(
        ImageError{ImageErrc::kInvalidArgument, "the destination is smaller than the source", 0});
  }
  constexpr size_t kChunk = 1 << 20;
  std::vector<std::byte> buffer(kChunk);
  for (uint64_t done = 0; done < total;) {
    if (cancel != nullptr && cancel->load()) {
      return fail(ImageError{ImageErrc::kIo, "cancelled", ECANCELED});
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(kChunk, total - done));
    if (auto r = src.read(done, std::span(buffer.data(), take)); !r) return r;
    if (!all_zero(buffer, take)) {
      if (auto w = dst.write(done, std::span<const std::byte>(buffer.data(), take)); !w) return w;
    }
    done += take;
    if (progress) progress(done, total);
  }
  return dst.flush();
}

}  // namespace flotilla::storage
