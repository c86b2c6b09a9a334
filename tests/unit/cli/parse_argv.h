// The CLI tests' one way to run argv through parse_args(): what it returned and what it wrote.
#pragma once

#include <stdlib.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli/app.h"

namespace flotilla::cli::test {

struct ParsedArgv {
  Result<Invocation, int> result;
  std::string out;  // what parse_args wrote to stdout (--help, --version)
  std::string err;  // its usage errors
};

// `args` without the program name; `stdin_text` is what a "-" argument reads.
inline ParsedArgv parse_argv(std::vector<const char*> args, const std::string& stdin_text = {}) {
  args.insert(args.begin(), "flotilla");
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  auto r = parse_args(static_cast<int>(args.size()), args.data(), in, out, err);
  return ParsedArgv{std::move(r), out.str(), err.str()};
}

// The variables parse_args reads defaults from, unset so a test sees only its own argv.
inline void unset_cli_environment() {
  for (const char* name : {"FLOTILLA_URL", "FLOTILLA_TOKEN", "FLOTILLA_STATE_DIR"}) unsetenv(name);
}

}  // namespace flotilla::cli::test
