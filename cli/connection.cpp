#include "cli/connection.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace flotilla::cli {

std::string socket_path(const std::string& state_dir) {
  return state_dir + "/run/flotillad.sock";
}

std::string admin_token_path(const std::string& state_dir) {
  return state_dir + "/admin.token";
}

Result<std::string, SimpleError> read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(SimpleError{"cannot read " + path + ": " + std::strerror(errno)});
  std::string line;
  std::getline(in, line);
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!line.empty() && blank(line.back())) line.pop_back();
  std::size_t start = 0;
  while (start < line.size() && blank(line[start])) ++start;
  line.erase(0, start);
  if (line.empty()) return fail(SimpleError{path + " is empty"});
  return line;
}

Result<ResolvedConnection, HttpError> resolve_connection(const ConnectionArgs& args) {
  ResolvedConnection out;
  ClientOptions& options = out.options;
  options.tls.insecure = args.insecure;
  options.tls.ca_file = args.ca_file;
  options.timeout = args.timeout;
  options.bearer_token = args.token;
  const std::string state_dir = args.state_dir.empty() ? kDefaultStateDir : args.state_dir;
  if (!args.url.empty()) {
    auto endpoint = parse_url(args.url);
    if (!endpoint) return fail(endpoint.error());
    options.endpoint = std::move(*endpoint);
    if (options.bearer_token.empty())
      out.token_warning = "no token: pass --token or FLOTILLA_TOKEN";
    return out;
  }
  options.endpoint.transport = Transport::kUnix;
  options.endpoint.socket_path = socket_path(state_dir);
  if (options.bearer_token.empty()) {
    auto token = read_token_file(admin_token_path(state_dir));
    if (token) {
      options.bearer_token = std::move(*token);
    } else {
      out.token_warning = "no token: " + token.error().message;
    }
  }
  return out;
}

}  // namespace flotilla::cli
