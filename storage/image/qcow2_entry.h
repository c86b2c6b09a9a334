// The qcow2 code's entry points used by block_image.cpp and image_tools.cpp (internal).
#pragma once

#include <memory>
#include <string>

#include "storage/image/image_tools.h"

namespace flotilla::storage {

// Writes a new qcow2 file at tmp_path (the caller renames it into place).
ImageResult<void> create_qcow2_file(const CreateOptions& options, const std::string& tmp_path);
ImageResult<ImageInfo> qcow2_info(const std::string& path);
ImageResult<void> resize_qcow2(const std::string& path, uint64_t new_size);
ImageResult<std::unique_ptr<BlockImage>> open_qcow2(const OpenOptions& options);

}  // namespace flotilla::storage
