// What a proportional-share scheduler owes each VM: water-filling. Capacity (in cores) is split
// in proportion to the weights; a VM that would get more than it can use (its vCPUs, or its cap)
// gets its maximum and the rest is split again among the others.
//
// Example (issue 7): four 1-vCPU guests with weights 1:1:2:4 on 2 cores → 0.25, 0.25, 0.5, 1.0
// cores: the weight-4 guest's 4/8 × 2 = 1 core is exactly its maximum, so nothing is
// redistributed. With weights 1:1:1:8 the big guest would be held to 1 core and the other three
// would share the second one equally.
#pragma once

#include <vector>

namespace flotilla::scheduler {

// weights > 0, max_each ≥ 0 (cores), capacity ≥ 0 (cores). Returns cores per VM.
std::vector<double> fair_shares(const std::vector<double>& weights,
                                const std::vector<double>& max_each, double capacity);

// Largest relative error |got − owed| / owed over the VMs (owed > 0 only).
double max_relative_error(const std::vector<double>& got, const std::vector<double>& owed);

}  // namespace flotilla::scheduler
