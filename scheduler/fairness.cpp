#include "scheduler/fairness.h"

#include <algorithm>
#include <cmath>

namespace flotilla::scheduler {

std::vector<double> fair_shares(const std::vector<double>& weights,
                                const std::vector<double>& max_each, double capacity) {
  const size_t n = weights.size();
  std::vector<double> out(n, 0.0);
  std::vector<bool> fixed(n, false);
  double left = capacity;
  for (size_t round = 0; round < n && left > 1e-12; ++round) {
    double w = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!fixed[i]) w += weights[i];
    }
    if (w <= 0) break;
    // Anyone whose proportional part exceeds its max is fixed at the max; repeat.
    bool capped = false;
    for (size_t i = 0; i < n; ++i) {
      if (!fixed[i] && left * weights[i] / w >= max_each[i]) {
        out[i] = max_each[i];
        fixed[i] = true;
        capped = true;
      }
    }
    if (capped) {
      left = capacity;
      for (size_t i = 0; i < n; ++i) {
        if (fixed[i]) left -= out[i];
      }
      left = std::max(0.0, left);
      continue;
    }
    for (size_t i = 0; i < n; ++i) {
      if (!fixed[i]) out[i] = left * weights[i] / w;
    }
    break;
  }
  return out;
}

double max_relative_error(const std::vector<double>& got, const std::vector<double>& owed) {
  double worst = 0;
  for (size_t i = 0; i < got.size() && i < owed.size(); ++i) {
    if (owed[i] > 0) worst = std::max(worst, std::fabs(got[i] - owed[i]) / owed[i]);
  }
  return worst;
}

}  // namespace flotilla::scheduler
