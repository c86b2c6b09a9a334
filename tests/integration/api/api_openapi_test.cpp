// The OpenAPI document and the server agree: every route+method of the server's route table
// is documented and every documented operation is routed, the served document is the
// checked-in file, and real responses match the documented statuses and required fields.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "api/api.h"
#include "tests/integration/api/openapi_check.h"
#include "tests/support/daemon_fixture.h"

namespace flotilla::test {
namespace {

nlohmann::json checked_in_document() {
  std::ifstream in(std::string(FLOTILLA_SOURCE_DIR) + "/api/openapi.json");
  return nlohmann::json::parse(in, nullptr, false);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(OpenApi, RouteTableAndDocumentAgree) {
  const auto doc = checked_in_document();
  ASSERT_FALSE(doc.is_discarded()) << "api/openapi.json is not JSON";
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  auto api = api::Api::create({});
  std::set<std::string> routed, documented;
  for (const auto& r : api->routes()) routed.insert(lower(r.method) + " " + r.pattern);
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      documented.insert(method + " " + path);
      const bool open = op.contains("security") && op["security"].empty();
      for (const auto& r : api->routes()) {
        if (lower(r.method) == method && r.pattern == path) {
          EXPECT_EQ(open, r.route_class == api::RouteClass::open) << method << " " << path;
          EXPECT_EQ(op["responses"].contains("401"), !open) << method << " " << path;
        }
      }
    }
  }
  EXPECT_EQ(routed, documented);
}

TEST(OpenApi, ServedDocumentIsTheCheckedInFile) {
  auto d = FlotilladProcess::start();
  ASSERT_TRUE(d.ok()) << d.error().message;
  auto r = HttpClient::tcp("127.0.0.1", (*d)->port()).get("/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), checked_in_document());
}

TEST(OpenApi, ResponsesMatchTheDocument) {
  auto d = FlotilladProcess::start();
  ASSERT_TRUE(d.ok()) << d.error().message;
  const OpenApiChecker checker(checked_in_document());
  auto admin = (*d)->client();
  auto anon = HttpClient::tcp("127.0.0.1", (*d)->port());
  auto check = [&](const std::string& m, const std::string& pattern, const HttpResponse& r) {
    ASSERT_NE(r.status, 0) << r.error;
    EXPECT_EQ(checker.check(m, pattern, r), "") << r.body;
  };
  check("GET", "/healthz", anon.get("/healthz"));
  check("GET", "/v1/openapi.json", anon.get("/v1/openapi.json"));
  check("GET", "/metrics", admin.get("/metrics"));
  check("GET", "/metrics", anon.get("/metrics"));
  check("GET", "/v1/host", admin.get("/v1/host"));
  // A NIC on a network that does not exist (networks with bridges: network_daemon_tests).
  check("POST", "/v1/vms",
        admin.post("/v1/vms", R"({"name":"a","boot":{"kernel":"/k"},"nics":[{}]})"));
  auto created = admin.post("/v1/vms", R"({"name":"a","boot":{"kernel":"/k"}})");
  check("POST", "/v1/vms", created);
  const std::string id = created.json()["id"];
  check("POST", "/v1/vms", admin.post("/v1/vms", R"({"name":"a","boot":{"kernel":"/k"}})"));
  check("POST", "/v1/vms", admin.post("/v1/vms", R"({"name":"b"})"));
  check("POST", "/v1/vms", admin.post("/v1/vms", "{", "application/json"));
  check("POST", "/v1/vms", admin.post("/v1/vms", "{}", "text/plain"));
  check("POST", "/v1/vms", anon.post("/v1/vms", "{}"));
  check("GET", "/v1/vms", admin.get("/v1/vms"));
  check("GET", "/v1/vms/{id}", admin.get("/v1/vms/" + id));
  check("GET", "/v1/vms/{id}", admin.get("/v1/vms/missing"));
  check("PATCH", "/v1/vms/{id}", admin.patch("/v1/vms/a", R"({"memory_mib":512})"));
  check("PATCH", "/v1/vms/{id}", admin.patch("/v1/vms/a", R"({"memory_mib":1})"));
  check("PATCH", "/v1/vms/{id}", admin.patch("/v1/vms/a", "{}", {{"If-Match", "\"77\""}}));
  check("GET", "/v1/operations", admin.get("/v1/operations"));
  check("GET", "/v1/operations/{id}", admin.get("/v1/operations/" + id));
  auto tok = admin.post("/v1/tokens", R"({"name":"v","role":"viewer"})");
  check("POST", "/v1/tokens", tok);
  check("POST", "/v1/tokens", admin.post("/v1/tokens", R"({"name":"v","role":"boss"})"));
  check("GET", "/v1/tokens", admin.get("/v1/tokens"));
  auto viewer = anon.with_token(tok.json()["token"]);
  check("GET", "/v1/tokens", viewer.get("/v1/tokens"));
  check("DELETE", "/v1/vms/{id}", viewer.del("/v1/vms/a"));
  check("DELETE", "/v1/tokens/{id}",
        admin.del("/v1/tokens/" + tok.json()["id"].get<std::string>()));
  check("DELETE", "/v1/tokens/{id}", admin.del("/v1/tokens/nope"));
  check("DELETE", "/v1/vms/{id}", admin.del("/v1/vms/a"));
  check("DELETE", "/v1/vms/{id}", admin.del("/v1/vms/a"));

  // Pools and disks.
  const std::string dev = (*d)->work_dir() + "/pool.img";
  check("POST", "/v1/pools",
        admin.post(
            "/v1/pools",
            nlohmann::json{
                {"name", "p"}, {"type", "partitioned"}, {"path", dev}, {"size_bytes", 16 << 20}}
                .dump()));
  check("POST", "/v1/pools", admin.post("/v1/pools", R"({"name":"q","type":"lvm","path":"/x"})"));
  check("POST", "/v1/pools", viewer.post("/v1/pools", R"({"name":"q","type":"dir","path":"/x"})"));
  check("GET", "/v1/pools", admin.get("/v1/pools"));
  check("GET", "/v1/pools/{id}", admin.get("/v1/pools/p"));
  check("GET", "/v1/pools/{id}", admin.get("/v1/pools/nope"));
  check("POST", "/v1/disks",
        admin.post("/v1/disks", R"({"name":"dk","pool":"p","size_bytes":2097152})"));
  check("POST", "/v1/disks",
        admin.post("/v1/disks", R"({"name":"dk","pool":"p","size_bytes":2097152})"));
  check("GET", "/v1/disks", admin.get("/v1/disks"));
  check("GET", "/v1/disks/{id}", admin.get("/v1/disks/dk"));
  check("PATCH", "/v1/disks/{id}", admin.patch("/v1/disks/dk", R"({"size_bytes":3145728})"));
  check("PATCH", "/v1/disks/{id}", admin.patch("/v1/disks/dk", R"({"size_bytes":1})"));
  (void)admin.post("/v1/vms", R"({"name":"b","boot":{"kernel":"/k"}})");
  check("POST", "/v1/vms/{id}/disks", admin.post("/v1/vms/b/disks", R"({"disk":"dk"})"));
  check("POST", "/v1/vms/{id}/disks", admin.post("/v1/vms/b/disks", R"({"disk":"dk"})"));
  check("GET", "/v1/vms/{id}", admin.get("/v1/vms/b"));
  check("DELETE", "/v1/disks/{id}", admin.del("/v1/disks/dk"));
  check("DELETE", "/v1/vms/{id}/disks/{disk}", admin.del("/v1/vms/b/disks/dk"));
  check("POST", "/v1/disks/import",
        admin.post("/v1/disks/import",
                   nlohmann::json{{"name", "im"}, {"pool", "p"}, {"source_path", dev}}.dump()));
  check("POST", "/v1/disks/import",
        admin.post("/v1/disks/import", R"({"name":"im2","pool":"p","source_path":"/nope"})"));
  check("DELETE", "/v1/disks/{id}", admin.del("/v1/disks/dk"));
  check("DELETE", "/v1/pools/{id}", admin.del("/v1/pools/p"));

  // Networks, as far as they go without making a bridge in this (the host's) namespace; the
  // success bodies are checked in network_daemon_tests, inside their own namespace.
  check("GET", "/v1/networks", admin.get("/v1/networks"));
  check("POST", "/v1/networks", admin.post("/v1/networks", R"({"name":"n","cidr":"10.0.0.1/33"})"));
  check("POST", "/v1/networks",
        viewer.post("/v1/networks", R"({"name":"n","cidr":"10.0.0.1/24"})"));
  check("GET", "/v1/networks/{id}", admin.get("/v1/networks/nope"));
  check("DELETE", "/v1/networks/{id}", admin.del("/v1/networks/nope"));
  check("POST", "/v1/vms/{id}/nics", admin.post("/v1/vms/b/nics", R"({"network":"nope"})"));
  check("PATCH", "/v1/vms/{id}/nics/{index}", admin.patch("/v1/vms/b/nics/0", R"({"limits":{}})"));
  check("DELETE", "/v1/vms/{id}/nics/{index}", admin.del("/v1/vms/b/nics/0"));
}

}  // namespace
}  // namespace flotilla::test
