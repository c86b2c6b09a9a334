#include "tests/integration/api/openapi_check.h"

namespace flotilla::test {

using nlohmann::json;

const json& OpenApiChecker::resolve(const json& schema) const {
  const json* s = &schema;
  while (s->is_object() && s->contains("$ref")) {
    std::string ref = (*s)["$ref"].get<std::string>().substr(2);  // "#/"
    const json* node = &doc_;
    size_t pos = 0;
    while (pos <= ref.size()) {
      size_t next = ref.find('/', pos);
      if (next == std::string::npos) next = ref.size();
      node = &(*node)[ref.substr(pos, next - pos)];
      pos = next + 1;
    }
    s = node;
  }
  return *s;
}

namespace {

bool type_matches(const std::string& type, const json& v) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  return true;
}

}  // namespace

void OpenApiChecker::check_value(const json& schema_in, const json& v, const std::string& path,
                                 std::vector<std::string>& problems) const {
  const json& schema = resolve(schema_in);
  if (v.is_null()) {
    if (!schema.value("nullable", false)) problems.push_back(path + ": null but not nullable");
    return;
  }
  if (schema.contains("oneOf")) {
    for (const auto& alt : schema["oneOf"]) {
      std::vector<std::string> p;
      check_value(alt, v, path, p);
      if (p.empty()) return;
    }
    problems.push_back(path + ": matches no oneOf alternative");
    return;
  }
  if (schema.contains("type") && !type_matches(schema["type"], v)) {
    problems.push_back(path + ": expected " + schema["type"].get<std::string>() + ", got " +
                       v.dump());
    return;
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema["enum"]) found |= (e == v);
    if (!found) problems.push_back(path + ": " + v.dump() + " not in enum");
  }
  if (v.is_object()) {
    for (const auto& req : schema.value("required", json::array())) {
      if (!v.contains(req.get<std::string>()))
        problems.push_back(path + "." + req.get<std::string>() + ": required, missing");
    }
    if (schema.contains("properties")) {
      for (const auto& [k, sub] : schema["properties"].items()) {
        if (v.contains(k)) check_value(sub, v[k], path + "." + k, problems);
      }
    }
  }
  if (v.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < v.size(); ++i) {
      check_value(schema["items"], v[i], path + "[" + std::to_string(i) + "]", problems);
    }
  }
}

std::string OpenApiChecker::check(const std::string& method, const std::string& pattern,
                                  const HttpResponse& r) const {
  std::string m = method;
  for (char& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto& paths = doc_["paths"];
  if (!paths.contains(pattern) || !paths[pattern].contains(m)) {
    return method + " " + pattern + ": not in the OpenAPI document";
  }
  const auto& responses = paths[pattern][m]["responses"];
  const std::string status = std::to_string(r.status);
  if (!responses.contains(status)) {
    return method + " " + pattern + ": status " + status + " not documented";
  }
  if (r.header("x-request-id").empty()) return method + " " + pattern + ": no X-Request-Id";
  const json& resp = resolve(responses[status]);
  if (!resp.contains("content")) {
    return r.body.empty() ? "" : method + " " + pattern + ": undocumented body";
  }
  if (!resp["content"].contains("application/json")) return "";
  const json body = r.json();
  if (body.is_discarded()) return method + " " + pattern + ": body is not JSON: " + r.body;
  std::vector<std::string> problems;
  check_value(resp["content"]["application/json"]["schema"], body, "$", problems);
  std::string out;
  for (const auto& p : problems) out += method + " " + pattern + " " + status + ": " + p + "\n";
  return out;
}

}  // namespace flotilla::test
