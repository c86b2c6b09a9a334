// Placeholder definitions until storage/image/qcow2/ lands (issue 5): each refuses clearly.
// The qcow2 implementation replaces this file (delete it from CMakeLists.txt then).
#include "storage/image/qcow2_entry.h"

namespace flotilla::storage {
namespace {
ImageError not_yet(const std::string& path) {
  return ImageError{ImageErrc::kUnsupported, path + ": qcow2 is not implemented yet", 0};
}
}  // namespace

ImageResult<void> create_qcow2_file(const CreateOptions& options, const std::string&) {
  return fail(not_yet(options.path));
}
ImageResult<ImageInfo> qcow2_info(const std::string& path) {
  return fail(not_yet(path));
}
ImageResult<void> resize_qcow2(const std::string& path, uint64_t) {
  return fail(not_yet(path));
}

}  // namespace flotilla::storage
