// Internal to api/: building an OpenSSL server context from PEM files (TLS 1.2+).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "api/server.h"

namespace flotilla::api::server {

Result<std::shared_ptr<boost::asio::ssl::context>, ServerError> make_tls_context(
    const TlsFiles& files);

}  // namespace flotilla::api::server
