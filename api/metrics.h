// Metrics: request counters and latency histograms for /metrics (Prometheus text format 0.0.4).
// Thread-safe: every method takes mu_.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace flotilla::api {

class Metrics {
 public:
  static constexpr std::array<double, 14> kBucketsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  void record_request(std::string_view route, std::string_view method, int status,
                      std::chrono::microseconds latency);
  // The exposition text; vm_counts maps state name → count (every state should be present).
  std::string render(const std::map<std::string, int64_t>& vm_counts) const;
  uint64_t requests_total() const;

 private:
  struct Histogram {
    std::array<uint64_t, kBucketsSeconds.size()> buckets{};  // non-cumulative
    uint64_t count = 0;
    double sum_seconds = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // GUARDED_BY(mu_)
  std::map<std::string, Histogram> latency_;                                // GUARDED_BY(mu_)
};

// Escapes a Prometheus label value (backslash, double quote, newline).
std::string escape_label(std::string_view v);

}  // namespace flotilla::api
