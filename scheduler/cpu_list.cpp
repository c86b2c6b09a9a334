#include "scheduler/cpu_list.h"

#include <algorithm>
#include <charconv>

namespace flotilla::scheduler {

std::string_view to_string(SchedErrc c) {
  switch (c) {
    case SchedErrc::invalid_policy:
      return "invalid_policy";
    case SchedErrc::refused:
      return "refused";
    case SchedErrc::no_cgroups:
      return "no_cgroups";
    case SchedErrc::cgroup_io:
      return "cgroup_io";
    case SchedErrc::proc_io:
      return "proc_io";
    case SchedErrc::not_found:
      return "not_found";
  }
  return "unknown";
}

namespace {

bool parse_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0 && out < 65536;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

Result<CpuList, SchedError> parse_cpu_list(std::string_view text) {
  text = trim(text);
  CpuList out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const size_t dash = item.find('-');
    int lo = 0, hi = 0;
    bool ok = dash == std::string_view::npos
                  ? parse_int(item, lo) && (hi = lo, true)
                  : parse_int(item.substr(0, dash), lo) && parse_int(item.substr(dash + 1), hi);
    if (!ok || hi < lo) {
      return fail(
          sched_error(SchedErrc::cgroup_io, "bad CPU list item '" + std::string(item) + "'"));
    }
    for (int c = lo; c <= hi; ++c) out.push_back(c);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string format_cpu_list(const CpuList& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

CpuList cpu_list_minus(const CpuList& a, const CpuList& b) {
  CpuList out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace flotilla::scheduler
