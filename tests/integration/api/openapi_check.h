// Holds responses to api/openapi.json: the status must be documented for the route and method,
// and a JSON body must carry every required field with the documented type (recursively,
// through $ref, arrays and nullable).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/http_client.h"

namespace flotilla::test {

class OpenApiChecker {
 public:
  explicit OpenApiChecker(nlohmann::json doc) : doc_(std::move(doc)) {}
  // Problems found ("" if none). `pattern` is the route pattern ("/v1/vms/{id}").
  std::string check(const std::string& method, const std::string& pattern,
                    const HttpResponse& r) const;
  const nlohmann::json& doc() const { return doc_; }

 private:
  const nlohmann::json& resolve(const nlohmann::json& schema) const;
  void check_value(const nlohmann::json& schema, const nlohmann::json& v, const std::string& path,
                   std::vector<std::string>& problems) const;
  nlohmann::json doc_;
};

}  // namespace flotilla::test
