#include "api/metrics.h"

#include <cstdio>

namespace flotilla::api {

namespace {

std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Metrics::record_request(std::string_view route, std::string_view method, int status,
                             std::chrono::microseconds latency) {
  const double secs = static_cast<double>(latency.count()) / 1e6;
  std::lock_guard lock(mu_);
  ++requests_[{std::string(route), std::string(method), status}];
  Histogram& h = latency_[std::string(route)];
  for (size_t i = 0; i < kBucketsSeconds.size(); ++i) {
    if (secs <= kBucketsSeconds[i]) {
      ++h.buckets[i];
      break;
    }
  }
  ++h.count;
  h.sum_seconds += secs;
}

uint64_t Metrics::requests_total() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [k, v] : requests_) n += v;
  return n;
}

std::string Metrics::render(const std::map<std::string, int64_t>& vm_counts) const {
  std::string out;
  out += "# HELP flotilla_http_requests_total HTTP requests answered, by route, method, status.\n";
  out += "# TYPE flotilla_http_requests_total counter\n";
  std::lock_guard lock(mu_);
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    out += "flotilla_http_requests_total{route=\"" + escape_label(route) + "\",method=\"" +
           escape_label(method) + "\",status=\"" + std::to_string(status) + "\"} " +
           std::to_string(n) + "\n";
  }
  out += "# HELP flotilla_http_request_duration_seconds HTTP request latency by route.\n";
  out += "# TYPE flotilla_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    const std::string label = "route=\"" + escape_label(route) + "\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBucketsSeconds.size(); ++i) {
      cumulative += h.buckets[i];
      out += "flotilla_http_request_duration_seconds_bucket{" + label + ",le=\"" +
             format_double(kBucketsSeconds[i]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "flotilla_http_request_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " +
           std::to_string(h.count) + "\n";
    out += "flotilla_http_request_duration_seconds_sum{" + label + "} " +
           format_double(h.sum_seconds) + "\n";
    out += "flotilla_http_request_duration_seconds_count{" + label + "} " +
           std::to_string(h.count) + "\n";
  }
  out += "# HELP flotilla_vms VMs defined on this host, by actual state.\n";
  out += "# TYPE flotilla_vms gauge\n";
  for (const auto& [state, n] : vm_counts) {
    out += "flotilla_vms{state=\"" + escape_label(state) + "\"} " + std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace flotilla::api
