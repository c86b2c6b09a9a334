// The Prometheus text format of /metrics.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <thread>

#include "api/metrics.h"

namespace flotilla::api {
namespace {

TEST(Metrics, TextFormat) {
  Metrics m;
  m.record_request("/v1/vms", "GET", 200, std::chrono::microseconds(700));
  m.record_request("/v1/vms", "GET", 200, std::chrono::microseconds(3000));
  m.record_request("/v1/vms/{id}", "DELETE", 409, std::chrono::microseconds(20'000'000));
  m.record_request("odd\"route\\\n", "GET", 404, std::chrono::microseconds(1));
  const std::string text = m.render({{"running", 2}, {"stopped", 0}});
  EXPECT_NE(
      text.find(
          "flotilla_http_requests_total{route=\"/v1/vms\",method=\"GET\",status=\"200\"} 2\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "flotilla_http_request_duration_seconds_bucket{route=\"/v1/vms\",le=\"0.001\"} 1\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "flotilla_http_request_duration_seconds_bucket{route=\"/v1/vms\",le=\"0.005\"} 2\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "flotilla_http_request_duration_seconds_bucket{route=\"/v1/vms/{id}\",le=\"10\"} 0\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "flotilla_http_request_duration_seconds_bucket{route=\"/v1/vms/{id}\",le=\"+Inf\"} 1\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("flotilla_http_request_duration_seconds_count{route=\"/v1/vms\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("flotilla_vms{state=\"running\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("route=\"odd\\\"route\\\\\\n\""), std::string::npos) << text;
  EXPECT_EQ(m.requests_total(), 4u);
  // Every line is a comment or `name{labels} value`.
  const std::regex sample(R"(^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [0-9.e+-]+$)");
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
  }
}

TEST(Metrics, ConcurrentRecording) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 1000; ++i)
        m.record_request("/r", "GET", 200, std::chrono::microseconds(i));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.requests_total(), 4000u);
}

}  // namespace
}  // namespace flotilla::api
