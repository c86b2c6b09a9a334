#include "api/server/tls_context.h"

#include <openssl/ssl.h>

namespace flotilla::api::server {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>, ServerError> make_tls_context(const TlsFiles& files) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  if (ec) return fail(ServerError{"TLS options: " + ec.message()});
  ctx->use_certificate_chain_file(files.cert_path, ec);
  if (ec) return fail(ServerError{"TLS certificate " + files.cert_path + ": " + ec.message()});
  ctx->use_private_key_file(files.key_path, ssl::context::pem, ec);
  if (ec) return fail(ServerError{"TLS key " + files.key_path + ": " + ec.message()});
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return fail(ServerError{"TLS key " + files.key_path + " does not match the certificate"});
  }
  return ctx;
}

}  // namespace flotilla::api::server
