// Where the CLI connects and with which token:
//   --url / FLOTILLA_URL given  → that URL, token from --token / FLOTILLA_TOKEN only (the local
//                                 admin token is never sent to a URL the user typed);
//   otherwise                   → unix:<state-dir>/run/flotillad.sock, token from --token /
//                                 FLOTILLA_TOKEN or else <state-dir>/admin.token.
// state-dir = --state-dir / FLOTILLA_STATE_DIR / ./.state (flags win over the environment;
// CLI11 applies the environment variables).
#pragma once

#include <chrono>
#include <string>

#include "cli/http_client.h"
#include "common/result.h"

namespace flotilla::cli {

inline constexpr const char* kDefaultStateDir = "./.state";

struct ConnectionArgs {
  std::string state_dir = kDefaultStateDir;
  std::string url;
  std::string token;
  std::string ca_file;
  bool insecure = false;
  std::chrono::milliseconds timeout{30000};
};

struct ResolvedConnection {
  ClientOptions options;
  // Set when no token was found: why (e.g. the admin.token path and errno text).
  std::string token_warning;
};

std::string socket_path(const std::string& state_dir);
std::string admin_token_path(const std::string& state_dir);

// Reads a token file: the first line, surrounding blanks stripped.
Result<std::string, SimpleError> read_token_file(const std::string& path);

Result<ResolvedConnection, HttpError> resolve_connection(const ConnectionArgs& args);

}  // namespace flotilla::cli
