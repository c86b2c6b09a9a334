// execute: one request, then the outcome as text (people) or the API's JSON (--json).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/render.h"

namespace flotilla::cli {
namespace {

using nlohmann::json;

// Prints "error: <code>: <message>" from the API's error body, or a fallback naming the status.
int report_api_error(const HttpResponse& response, std::ostream& err) {
  json body = json::parse(response.body, nullptr, false);
  const json* error = nullptr;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    error = &body["error"];
  }
  std::string code = "http_" + std::to_string(response.status);
  std::string message = "HTTP status " + std::to_string(response.status);
  if (error && error->contains("code") && (*error)["code"].is_string()) {
    code = (*error)["code"].get<std::string>();
  }
  if (error && error->contains("message") && (*error)["message"].is_string()) {
    message = (*error)["message"].get<std::string>();
  }
  err << "error: " << code << ": " << message << "\n";
  return kExitApiError;
}

std::string render(const Invocation& inv, const json& body) {
  switch (inv.command) {
    case Command::kVmList:
      return render_vm_list(body);
    case Command::kVmShow:
    case Command::kVmCreate:
      return render_vm(body);
    case Command::kHost:
      return render_host(body);
    case Command::kTokenCreate:
      return render_token(body);
    case Command::kTokenList:
      return render_token_list(body);
    case Command::kVmDelete:
      return "deleted vm " + inv.subject + "\n";
    case Command::kTokenRevoke:
      return "revoked token " + inv.subject + "\n";
  }
  return {};
}

bool has_body(Command command) {
  return command != Command::kVmDelete && command != Command::kTokenRevoke;
}

}  // namespace

int execute(const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto resolved = resolve_connection(inv.connection);
  if (!resolved) {
    err << "error: usage: " << resolved.error().message << "\n";
    return kExitUsage;
  }
  auto client = HttpClient::create(resolved->options);
  if (!client) {
    err << "error: " << to_string(client.error().code) << ": " << client.error().message << "\n";
    return kExitUsage;
  }
  auto response = client->send(inv.request);
  if (!response) {
    err << "error: " << to_string(response.error().code) << ": " << response.error().message
        << "\n";
    return kExitConnection;
  }
  if (response->status < 200 || response->status > 299) {
    if (response->status == 401 && !resolved->token_warning.empty()) {
      err << "hint: " << resolved->token_warning << "\n";
    }
    return report_api_error(*response, err);
  }
  if (inv.json) {
    if (!response->body.empty()) {
      out << response->body;
      if (response->body.back() != '\n') out << '\n';
    }
    return kExitOk;
  }
  json body;
  if (has_body(inv.command)) {
    body = json::parse(response->body, nullptr, false);
    if (body.is_discarded()) {
      err << "error: io: the server's response is not JSON\n";
      return kExitConnection;
    }
  }
  out << render(inv, body);
  if (inv.command == Command::kTokenCreate) {
    err << "note: store the token now; it is not shown again\n";
  }
  return kExitOk;
}

int run(int argc, const char* const* argv) {
  auto inv = parse_args(argc, argv, std::cin, std::cout, std::cerr);
  if (!inv) return inv.error();
  return execute(*inv, std::cout, std::cerr);
}

}  // namespace flotilla::cli
