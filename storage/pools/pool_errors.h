// Internal to storage/pools/: error conversions shared by the pool manager's files.
#pragma once

#include <string>

#include "storage/image/block_image.h"
#include "storage/pools/pool_header.h"
#include "storage/pools/pools.h"

namespace flotilla::storage::pools {

PoolError pool_error(PoolErrc code, std::string message, std::string field = {});
PoolError from_store(const StoreError& e, std::string field = {});
PoolError from_image(const ImageError& e, std::string field = {});
PoolError from_header(const HeaderError& e);
// "raw"/"qcow2" → ImageFormat (anything else is raw; the API validated it).
ImageFormat image_format(const std::string& format);

}  // namespace flotilla::storage::pools
