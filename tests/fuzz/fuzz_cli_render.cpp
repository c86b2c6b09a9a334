// libFuzzer target: the CLI's handling of whatever a server sends back (render.h must print
// any JSON without throwing or crashing) and of whatever a user types as --url.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "cli/http_client.h"
#include "cli/render.h"
#include "cli/table.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flotilla::cli;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto endpoint = parse_url(in);
  if (endpoint) (void)parse_url(describe(*endpoint));
  (void)encode_path_segment(in);
  (void)display_width(in);
  auto json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded()) return 0;
  (void)render_vm_list(json);
  (void)render_vm(json);
  (void)render_host(json);
  (void)render_token_list(json);
  (void)render_token(json);
  if (json.is_object() && json.contains("items") && json["items"].is_array()) {
    for (const auto& item : json["items"]) (void)render_vm(item);
  }
  return 0;
}
