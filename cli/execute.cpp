// execute: one request, then the outcome as text (people) or the API's JSON (--json).
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/app.h"
#include "cli/console.h"
#include "cli/render.h"
#include "cli/requests.h"
#include "cli/websocket_client.h"

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
    case Command::kVmAction:  // pause/resume answer with the VM
      return render_vm(body);
    case Command::kVmStats:
      return render_flat(body);
    case Command::kConsoleTail: {
      const json& data = body.is_object() && body.contains("data") ? body["data"] : json();
      return data.is_string() ? data.get<std::string>() : std::string();
    }
    case Command::kConsole:
      return {};
    case Command::kPoolCreate:
    case Command::kPoolShow:
      return render_pool(body);
    case Command::kPoolList:
      return render_pool_list(body);
    case Command::kPoolDelete:
      return "deleted pool " + inv.subject + "\n";
    case Command::kDiskCreate:
    case Command::kDiskShow:
    case Command::kDiskResize:
      return render_disk(body);
    case Command::kDiskList:
      return render_disk_list(body);
    case Command::kDiskDelete:
      return "deleted disk " + inv.subject + "\n";
    case Command::kDiskImport:  // --no-wait: the operation
      return render_operation(body);
    case Command::kVmDiskAttach:
    case Command::kVmDiskDetach:
    case Command::kVmNic:
    case Command::kVmPolicy:
      return render_vm(body);
    case Command::kNetworkCreate:
    case Command::kNetworkShow:
      return render_network(body);
    case Command::kNetworkList:
      return render_network_list(body);
    case Command::kNetworkDelete:
      return "deleted network " + inv.subject + "\n";
  }
  return {};
}

int connection_error(const HttpError& e, std::ostream& err) {
  err << "error: " << to_string(e.code) << ": " << e.message << "\n";
  return kExitConnection;
}

std::string op_error_text(const json& op) {
  if (!op.is_object() || !op.contains("error")) return "no reason given";
  const json& e = op["error"];
  if (e.is_string() && !e.get<std::string>().empty()) return e.get<std::string>();
  if (e.is_object()) {
    std::string code = e.value("code", std::string());
    std::string message = e.value("message", std::string());
    if (!code.empty() || !message.empty()) return code + (code.empty() ? "" : ": ") + message;
  }
  return "no reason given";
}

// Polls GET /v1/operations/{id} until the operation ends or the wait deadline passes, drawing a
// progress bar on stderr when it is a terminal.
int wait_for_operation(const Invocation& inv, HttpClient& client, json op, std::ostream& out,
                       std::ostream& err) {
  const bool tty = ::isatty(2) == 1;
  const std::string id = op.value("id", std::string());
  const std::string kind =
      op.value("kind", inv.command == Command::kDiskImport ? std::string("disk.import")
                                                           : "vm." + inv.action);
  const auto deadline = std::chrono::steady_clock::now() + inv.wait_timeout;
  auto delay = std::chrono::milliseconds(50);
  bool drawn = false;
  for (;;) {
    const std::string state = op.value("state", std::string());
    const int progress = op.contains("progress") && op["progress"].is_number_integer()
                             ? op["progress"].get<int>()
                             : 0;
    if (tty) {
      err << "\r" << progress_bar(progress, kind) << "\x1b[K" << std::flush;
      drawn = true;
    }
    if (state == "succeeded" || state == "failed" || state == "cancelled") {
      if (drawn) err << "\n";
      if (inv.json) out << op.dump() << "\n";
      if (state == "succeeded") {
        if (!inv.json) out << kind << " " << inv.subject << ": succeeded\n";
        return kExitOk;
      }
      err << "error: " << kind << " " << inv.subject << " " << state << ": " << op_error_text(op)
          << "\n";
      return kExitApiError;
    }
    if (std::chrono::steady_clock::now() + delay > deadline) {
      if (drawn) err << "\n";
      err << "error: timeout: operation " << id << " (" << kind << ") still " << state << " after "
          << inv.wait_timeout.count() / 1000.0
          << " s; see flotilla --json ... or GET /v1/operations/" << id << "\n";
      return kExitConnection;
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(500));
    auto r = client.send(operation_request(id));
    if (!r) {
      if (drawn) err << "\n";
      return connection_error(r.error(), err);
    }
    if (r->status != 200) {
      if (drawn) err << "\n";
      return report_api_error(*r, err);
    }
    op = json::parse(r->body, nullptr, false);
    if (!op.is_object()) {
      if (drawn) err << "\n";
      err << "error: io: the server's response is not JSON\n";
      return kExitConnection;
    }
  }
}

int execute_console(const Invocation& inv, const ResolvedConnection& resolved, std::ostream& err) {
  auto ws = WebSocketClient::connect(resolved.options, inv.request);
  if (!ws) {
    if (ws.error().response) {
      if (ws.error().response->status == 401 && !resolved.token_warning.empty()) {
        err << "hint: " << resolved.token_warning << "\n";
      }
      return report_api_error(*ws.error().response, err);
    }
    return connection_error(ws.error().error, err);
  }
  ConsoleRunOptions options;
  options.subject = inv.subject;
  options.read_only = inv.read_only;
  return run_console(*ws, options, err);
}

bool has_body(Command command) {
  return command != Command::kVmDelete && command != Command::kTokenRevoke &&
         command != Command::kPoolDelete && command != Command::kDiskDelete &&
         command != Command::kNetworkDelete;
}

bool is_operation(Command command) {
  return command == Command::kVmAction || command == Command::kDiskImport;
}

}  // namespace

int execute(const Invocation& inv, std::ostream& out, std::ostream& err) {
  auto resolved = resolve_connection(inv.connection);
  if (!resolved) {
    err << "error: usage: " << resolved.error().message << "\n";
    return kExitUsage;
  }
  if (inv.command == Command::kConsole) return execute_console(inv, *resolved, err);
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
  if (is_operation(inv.command) && response->status == 202 && inv.wait) {
    json op = json::parse(response->body, nullptr, false);
    if (!op.is_object()) {
      err << "error: io: the server's response is not JSON\n";
      return kExitConnection;
    }
    return wait_for_operation(inv, *client, std::move(op), out, err);
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
  if (is_operation(inv.command) && response->status == 202) {
    out << render_operation(body);  // --no-wait
    return kExitOk;
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
